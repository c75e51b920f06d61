"""Long technical turns (issue 14, item 7): assistant answers of 1–3 KB with code, as coding
assistants write them, each holding one line that answers a later question. The filler is
ordinary explanation and code on the same topic, so the answer line is a small part of a long,
on-topic turn — the case where a whole-turn vector (an average, and truncated by the model) and
whole-turn BM25 (normalised by length) lose it.

Each case: (topic, the answer line, the question, filler paragraphs).
"""

from __future__ import annotations

CODE = {
    "python": """```python
def load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    for key, value in data.items():
        if isinstance(value, str):
            data[key] = value.strip()
    return data


class Cache:
    def __init__(self, size: int = 128) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = size

    def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item
```""",
    "shell": """```bash
#!/usr/bin/env bash
set -euo pipefail
for file in "$@"; do
  if [[ -f "$file" ]]; then
    echo "processing $file"
    gzip -k "$file"
  fi
done
docker compose up -d --build
docker compose logs -f api | grep -v healthcheck
```""",
    "sql": """```sql
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_user_created ON events (user_id, created_at DESC);
SELECT kind, count(*) FROM events WHERE created_at > now() - interval '1 day' GROUP BY kind;
```""",
    "yaml": """```yaml
services:
  api:
    build: .
    environment:
      - LOG_LEVEL=info
      - WORKERS=4
    depends_on:
      - db
  db:
    image: postgres:16
    volumes:
      - pgdata:/var/lib/postgresql/data
volumes:
  pgdata: {}
```""",
}

FILLER = [
    "Here is how I would approach it. The main idea is to keep the configuration in one place "
    "and to load it once at startup, so every module reads the same values and tests can "
    "override them without touching the environment.",
    "A few things to keep in mind: error handling should be explicit, retries should back off "
    "exponentially with jitter, and anything that talks to the network needs a timeout, "
    "otherwise one slow dependency can stall the whole worker pool.",
    "If you want to go further, you can add structured logging with a request id on every line; "
    "it makes tracing a single request through the services much easier when something breaks "
    "in production at three in the morning.",
    "For the tests, I'd use a temporary directory per test and a real database in a container "
    "rather than mocks, because the bugs we care about usually live in the interaction between "
    "the query and the schema, not in the Python around it.",
    "Finally, document the decision in the README so the next person knows why it is done this "
    "way, and add a short example that can be copied and run as it is.",
]

# (topic, code kind, answer line, question)
CASES: list[tuple[str, str, str, str]] = [
    (
        "api port",
        "yaml",
        "The API listens on port 8443 inside the container.",
        "Which port does the API listen on?",
    ),
    (
        "worker count",
        "yaml",
        "We settled on 6 gunicorn workers per pod after load testing.",
        "How many gunicorn workers per pod did we pick?",
    ),
    (
        "retry policy",
        "python",
        "Retries are capped at 5 attempts with a 30 second ceiling.",
        "How many retry attempts are allowed?",
    ),
    (
        "cache size",
        "python",
        "The LRU cache holds 2048 entries by default.",
        "What is the default size of the LRU cache?",
    ),
    (
        "log retention",
        "shell",
        "Logs are kept for 14 days and then rotated out.",
        "How long are logs retained?",
    ),
    (
        "db index",
        "sql",
        "The slow report query needed a partial index on status = 'open'.",
        "What index fixed the slow report query?",
    ),
    (
        "timezone",
        "sql",
        "All timestamps are stored in UTC and converted in the frontend.",
        "Which timezone are timestamps stored in?",
    ),
    (
        "secret store",
        "shell",
        "Secrets live in Vault under the path kv/payments/prod.",
        "Where are the payment secrets stored?",
    ),
    (
        "python version",
        "python",
        "The service is pinned to Python 3.11.9 in the Dockerfile.",
        "Which exact Python version is the service pinned to?",
    ),
    (
        "node version",
        "shell",
        "The frontend build requires Node 20.11 or newer.",
        "What Node version does the frontend build need?",
    ),
    (
        "max upload",
        "yaml",
        "Uploads larger than 25 MB are rejected by nginx.",
        "What is the maximum upload size?",
    ),
    (
        "queue",
        "python",
        "Background jobs go through a Redis-backed RQ queue named reports.",
        "What queue do background jobs use?",
    ),
    (
        "branch",
        "shell",
        "Releases are cut from the release/2.4 branch on Thursdays.",
        "Which branch are releases cut from?",
    ),
    (
        "feature flag",
        "python",
        "The new checkout is behind the flag checkout_v2, off by default.",
        "What is the feature flag for the new checkout?",
    ),
    (
        "backup time",
        "shell",
        "Nightly database backups run at 02:30 UTC via cron.",
        "When do the nightly backups run?",
    ),
    (
        "connection pool",
        "python",
        "The SQLAlchemy pool size is 20 with max_overflow of 10.",
        "What is the database connection pool size?",
    ),
    (
        "rate limit",
        "yaml",
        "The public endpoint is rate limited to 120 requests per minute per IP.",
        "What is the rate limit on the public endpoint?",
    ),
    (
        "encoding",
        "python",
        "CSV exports are written as UTF-8 with a BOM so Excel opens them correctly.",
        "Which encoding do CSV exports use?",
    ),
    (
        "region",
        "yaml",
        "Production runs in eu-central-1, staging in eu-west-1.",
        "Which AWS region is production in?",
    ),
    (
        "ci runner",
        "shell",
        "CI uses self-hosted runners labelled gpu-large for the model tests.",
        "Which runners run the model tests?",
    ),
    (
        "schema migration",
        "sql",
        "Migrations are managed with Alembic and run before each deploy.",
        "What tool manages schema migrations?",
    ),
    (
        "jwt expiry",
        "python",
        "Access tokens expire after 15 minutes, refresh tokens after 30 days.",
        "When do access tokens expire?",
    ),
    (
        "healthcheck",
        "yaml",
        "The healthcheck hits /healthz every 10 seconds.",
        "How often does the healthcheck run?",
    ),
    (
        "page size",
        "sql",
        "List endpoints return 50 items per page by default.",
        "What is the default page size of list endpoints?",
    ),
    (
        "linter",
        "shell",
        "We lint with ruff and format with black at line length 100.",
        "What line length do we format with?",
    ),
    (
        "orm",
        "python",
        "The ORM models live in app/models and use SQLAlchemy 2.0 style.",
        "Where do the ORM models live?",
    ),
    (
        "monitoring",
        "yaml",
        "Alerts page the on-call through Opsgenie when p99 latency exceeds 800 ms.",
        "At what latency do alerts page the on-call?",
    ),
    (
        "s3 bucket",
        "shell",
        "Static assets are served from the bucket acme-static-prod via CloudFront.",
        "Which bucket serves the static assets?",
    ),
    (
        "search engine",
        "python",
        "Full-text search is handled by OpenSearch 2.11.",
        "What handles full-text search?",
    ),
    (
        "deploy tool",
        "shell",
        "Deploys go through Argo CD watching the infra repository.",
        "What do deploys go through?",
    ),
    (
        "memory limit",
        "yaml",
        "Each api pod has a memory limit of 1.5 GiB.",
        "What is the memory limit of an api pod?",
    ),
    (
        "test coverage",
        "shell",
        "CI fails when coverage drops below 85 percent.",
        "Below what coverage does CI fail?",
    ),
]


def turn(index: int) -> str:
    """The long assistant answer of case ``index``: explanation and code around its line."""
    topic, code, line, _question = CASES[index]
    paragraphs = [f"Sure, let's look at the {topic} setup."]
    paragraphs += FILLER[: 2 + index % 3]
    paragraphs.append(CODE[code])
    paragraphs.append(line)  # the one line that answers; position varies with the filler
    paragraphs += FILLER[2 + index % 3 :]
    paragraphs.append(CODE[list(CODE)[(index + 1) % len(CODE)]])
    return "\n\n".join(paragraphs)
