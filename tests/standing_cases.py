"""Scenarios for search's standing-memory stage: a store with a user's standing instruction and
ordinary memories, and a request that shares no word with the instruction but should be served
by it (``tests/test_standing_suite.py``; ``scripts`` and docs/benchmarks.md measure them with
MiniLM)."""

from __future__ import annotations

# Ordinary memories of a user who chats with an assistant about work and life.
DISTRACTORS = (
    "We had a long meeting about the quarterly roadmap.",
    "My sister lives in Lisbon.",
    "The staging database was restored from last night's backup.",
    "I finally finished reading Dune.",
    "The cat knocked my coffee over this morning.",
    "Our team lunch is on Thursday at the Thai place.",
    "I bought a new mechanical keyboard.",
    "The flight to Porto was delayed by two hours.",
    "My manager approved the budget for the new laptops.",
    "I started running again after the injury.",
    "The client liked the second design draft better.",
    "We adopted a rescue dog named Biscuit.",
    "I fixed the bug in the invoice export yesterday.",
    "The new hire starts on Monday.",
    "We went to my parents' place for the weekend.",
    "The API gateway timed out twice during the demo.",
    "I watched a documentary about octopuses.",
    "The landlord is finally repairing the heating.",
    "Our sprint review moved to Wednesday afternoon.",
    "I signed up for a pottery class.",
    "The release notes for version 2.3 are published.",
    "My knee still hurts after the hike.",
    "We switched the analytics dashboard to the new charts.",
    "I'm reading a book about the history of maps.",
    "The dentist appointment went fine.",
    "The customer reported that search results load slowly.",
    "We celebrated Ana's birthday at the beach.",
    "The server migration finished over the weekend.",
    "I tried a new ramen place downtown.",
    "The marketing team wants a demo video.",
    "I lost my umbrella on the train.",
    "We refactored the billing module last sprint.",
    "My nephew learned to ride a bike.",
    "The conference in Lisbon is in October.",
    "I renewed my passport.",
    "The error logs show a memory leak in the worker.",
    "We planted tomatoes on the balcony.",
    "The product owner rejected the first mockups.",
    "I've been sleeping badly this week.",
    "The quarterly report is due Friday.",
    "We got a new coffee machine at the office.",
    "The load test reached 2,000 requests per second.",
    "I called the bank about the card fee.",
    "The kids' school play was wonderful.",
    "The design system now has a dark theme.",
    "I finished the online course on statistics.",
    "Our neighbours are moving to Berlin.",
    "The database backup job failed on Sunday.",
    "I started learning Portuguese.",
    "The team voted to keep the daily standup short.",
)

# (standing instruction, a request it bears on)
CASES = (
    ("Always format code with syntax highlighting.", "How should I implement the login page?"),
    ("I prefer minimal dependencies.", "Can you build me a CSV parser in Python?"),
    ("Use pnpm, not npm.", "Set up a new React app for the dashboard."),
    ("Never call me before 9.", "Schedule a call with me to go over the budget."),
    ("Please keep answers short.", "Explain how DNS resolution works."),
    ("From now on, answer in Spanish.", "Summarize the main causes of inflation."),
    ("Commit messages should follow Conventional Commits.", "Commit the payment refactor."),
    ("Use type hints everywhere.", "Implement a function that merges two sorted lists."),
    ("Don't schedule meetings on Fridays.", "Book a meeting with the design team next week."),
    ("Only recommend recipes without nuts.", "Suggest a dessert for Saturday's dinner party."),
    ("Always book refundable hotels for me.", "Find me a hotel in Lisbon for the conference."),
    ("I'd rather you didn't use jargon.", "Explain what a mortgage offset account is."),
    ("Whenever you write SQL, use uppercase keywords.", "Write a query that lists customers."),
    ("Never commit directly to main.", "Push the fix for the flaky test."),
    ("Call me Sam.", "Draft a short bio of me for the conference page."),
    ("Prefer composition over inheritance.", "Design the class structure for the plugin system."),
    ("Don't use emojis in your responses.", "Write a tweet announcing our launch."),
    ("I prefer window seats on long flights.", "Book me a flight to Tokyo in May."),
    ("Tests go in the tests folder next to the package.", "Add unit tests for the date parser."),
    ("Use metric units, please.", "How far should I run each week to train for a marathon?"),
)

# Questions about what happened: no standing instruction bears on them.
QUESTIONS = (
    "Where does my sister live?",
    "What book did I finish?",
    "When is the team lunch?",
    "What is my dog's name?",
    "Which design draft did the client like?",
)
