"""Standing memory (issue 14, item 3): which sentences are instructions or preferences, who may
write them, latest per subject in the profile, and the search stage that brings them back."""

from __future__ import annotations

import pytest

from remem import standing

# Standing instructions and preferences, across domains: an assistant's answers, coding
# projects, contact and schedules, food and travel, how to be addressed.
POSITIVE = [
    # how to answer
    "Please keep answers short.",
    "Always format code blocks.",
    "Keep your replies under 100 words.",
    "Be concise.",
    "Don't use emojis in your responses.",
    "Stop apologizing so much.",
    "From now on, answer in Spanish.",
    "Respond in British English.",
    "Going forward, skip the pleasantries and get to the point.",
    "No more bullet points, please write in paragraphs.",
    "I'd rather you didn't use jargon.",
    "I hate it when you add disclaimers.",
    "I want you to always cite your sources.",
    "Whenever you explain something, give an example first.",
    "Never use exclamation marks.",
    "Can you always include a TL;DR at the top?",
    "I like my answers short and to the point.",
    # coding projects
    "I prefer minimal dependencies.",
    "Always format code with syntax highlighting.",
    "Use pnpm, not npm.",
    "We use pytest for all tests.",
    "This project targets Python 3.11.",
    "Commit messages should follow Conventional Commits.",
    "Never commit directly to main.",
    "Use type hints everywhere.",
    "Prefer composition over inheritance.",
    "Tests go in the tests folder next to the package.",
    "Avoid global variables in this codebase.",
    "When you write code, add docstrings to public functions.",
    "Use tabs for indentation.",
    "Our team squashes commits before merging.",
    "Don't add new libraries without asking me.",
    "Variable names should be snake_case.",
    "I generally prefer functional style over classes.",
    # contact, schedules, travel, food, address
    "Never call me before 9.",
    "Call me any time after 8.",
    "Don't text me during work hours.",
    "Please don't schedule meetings on Fridays.",
    "I prefer window seats on long flights.",
    "I prefer vegetarian restaurants when we travel.",
    "Call me Sam.",
    "Please address me as Dr. Lee.",
    "My preferred airline is KLM.",
    "Always book refundable hotels for me.",
    "Use metric units, please.",
    "Only recommend recipes without nuts.",
    "I'd prefer if you didn't remind me about the gym.",
    # a second set, in other words
    "Make sure all new endpoints have integration tests.",
    "Please stop suggesting Docker for everything.",
    "I'd like responses in bullet points from now on.",
    "Going forward, please sign off emails with 'Best, Ana'.",
    "Don't ever push to production on Fridays.",
    "I want all dates in ISO 8601.",
    "Keep the tone casual.",
    "Remember that I prefer dark mode in every UI mockup.",
    "Always write docstrings in Google style.",
    "Please don't use semicolons in JavaScript.",
    "Can you stop using so many exclamation points?",
    "I'm allergic to peanuts, so never suggest recipes with peanuts.",
    "No jargon please.",
    "I like concise explanations.",
    "I prefer to be contacted by email rather than phone.",
    "Text me instead of calling.",
    "Only use the standard library.",
    "Please write all SQL keywords in uppercase.",
    "Use Celsius for temperatures.",
    "When suggesting restaurants, keep them under $30 per person.",
    "My preference is to avoid meetings before 10am.",
    "Default to TypeScript for new services.",
    "Refer to me as they/them.",
    "Please never share my location with anyone.",
    "Our convention is to prefix private helpers with an underscore.",
    "I'd appreciate it if you kept explanations brief.",
    "Use British spelling in all documents.",
    "Don't summarize unless I ask.",
    "Put imports at the top of the file, always.",
    "Please don't schedule anything on Sunday mornings.",
    "I don't want you to use any emojis.",
    "Avoid long paragraphs.",
    "Reply in German from now on.",
    "Write tests before the implementation.",
    "Prefer async code for IO.",
    "Never suggest paid tools.",
    "Answer with code first, explanation after.",
    "We deploy with GitHub Actions, not Jenkins.",
    "I'd rather get one good option than five mediocre ones.",
    "Please remember I'm vegan when you suggest meals.",
]

NEGATIVE = [
    # chit-chat between friends (LoCoMo-like)
    "I love painting.",
    "I always go hiking on weekends.",
    "We always go camping in summer.",
    "She always brings cookies to the party.",
    "My mom never calls before 9.",
    "I never thought I'd see the day.",
    "Never mind, it's fine.",
    "Don't worry about it!",
    "Never give up on your dreams!",
    "You should always follow your heart.",
    "Always a pleasure talking to you!",
    "You can call me anytime you need to talk.",
    "In the future, I want to open a bakery.",
    "Thanks, that really helped!",
    "I hate Mondays.",
    "Don't tell me you forgot!",
    "Stop it!",
    "Be careful out there!",
    "My favorite food is grilled sardines.",
    "I'm vegetarian.",
    "I moved to Berlin last year.",
    "He prefers tea.",
    "I used to prefer vim.",
    "Do you prefer tea or coffee?",
    "Call me crazy, but I think it will rain.",
    "I'd rather stay home tonight.",
    "I'd prefer to meet on Tuesday.",
    "We went to the beach with the kids.",
    "I finally finished the painting I started in May.",
    # one-off requests
    "Call me tomorrow at 9.",
    "Please fix the failing test.",
    "Can you review my PR?",
    "Write a function that parses dates.",
    "Give me an example.",
    "Use the blue one.",
    "Keep the door closed.",
    "Don't forget the milk.",
    "Add a test for the parser.",
    "Refactor this module.",
    "Send the report to Ana today.",
    # facts and events of a project
    "The API returns 404 on an empty input.",
    "We deployed v2 yesterday.",
    "The login page is broken again.",
    "I installed pytest this morning.",
    # a second set: friends' chat, habits, one-off requests, facts
    "Always wanted to go to Japan!",
    "Never been to Paris.",
    "We always have so much fun together!",
    "I use Python at work.",
    "He told me to always use sunscreen.",
    "Keep going, you're doing great!",
    "Keep it up!",
    "Don't be so hard on yourself.",
    "Please send me the photos from the trip!",
    "Use your imagination!",
    "Stay safe out there.",
    "Let's grab coffee next week.",
    "My kids always ask for pancakes on Sunday.",
    "The tests always fail on CI when the cache is cold.",
    "Commits on main trigger a deploy.",
    "Avoid the highway, there's traffic.",
    "I never liked horror movies.",
    "Always happy to help!",
    "Never a dull moment!",
    "Don't forget to bring your swimsuit!",
    "Take care and talk soon!",
    "Use whatever works for you.",
    "Tell me more about your trip!",
    "Keep me posted!",
    "Make sure you get some rest.",
    "I'll always remember that day.",
    "Never say never, right?",
    "She prefers the red dress.",
    "We never miss a game.",
    "Send me the link when you can.",
    "Check out this photo of my dog!",
    "Don't stop believing!",
    "Always be yourself.",
    "I always forget my keys.",
    "Remember to drink water!",
]


@pytest.mark.parametrize("sentence", POSITIVE)
def test_standing_sentences_are_detected(sentence: str) -> None:
    assert standing.detect(sentence) in (standing.INSTRUCTION, standing.PREFERENCE)


@pytest.mark.parametrize("sentence", NEGATIVE)
def test_other_sentences_are_not_standing(sentence: str) -> None:
    assert standing.detect(sentence) is None


def test_the_sets_are_large_enough() -> None:
    assert len(POSITIVE) >= 40 and len(NEGATIVE) >= 40
    assert not set(POSITIVE) & set(NEGATIVE)


def test_preference_and_instruction_are_told_apart() -> None:
    assert standing.detect("I prefer minimal dependencies.") == standing.PREFERENCE
    assert standing.detect("Never call me before 9.") == standing.INSTRUCTION
    # one standing sentence in a longer turn is enough
    turn = "Thanks for the help yesterday. By the way, never call me before 9."
    assert standing.detect(turn) == standing.INSTRUCTION
