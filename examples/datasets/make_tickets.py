"""Generate the example support-ticket datasets (deterministic, seeded).

    python examples/datasets/make_tickets.py      # writes tickets_train.jsonl and the suite's tickets.jsonl

Labels: billing, technical, account, shipping, feedback. The evaluation set shares no text with the
training set. Some tickets mention two topics, so no classifier is perfect on them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = ["billing", "technical", "account", "shipping", "feedback"]

SUBJECTS = {
    "billing": ["I was charged twice for my {plan} subscription", "my invoice for {month} shows the wrong amount",
                "please refund the {amount} charge from last week", "why did my card get billed {amount} today",
                "the promo code {code} was not applied to my bill", "I need a VAT invoice for order {order}",
                "cancel the auto-renewal, I don't want to be charged again", "my payment failed but money left my account",
                "how do I update the credit card on file", "I was billed after I cancelled my {plan} plan"],
    "technical": ["the app crashes when I open {feature}", "error {error} appears whenever I try to {action}",
                  "{feature} has been loading forever since the update", "sync is broken between my phone and laptop",
                  "the API returns {error} for every request", "I can't upload files larger than {size}",
                  "notifications stopped working on {device}", "the export to CSV produces an empty file",
                  "dark mode makes the {feature} page unreadable", "search returns nothing even for exact titles"],
    "account": ["I can't log in, it says my password is wrong", "please reset the two-factor authentication on my account",
                "how do I change the email address on my profile", "I want to delete my account and all my data",
                "my account was locked after too many attempts", "add {name} as an admin to our team workspace",
                "I never received the verification email", "merge my two accounts into one please",
                "change the owner of our organization to {name}", "someone else may have access to my account"],
    "shipping": ["my order {order} has not arrived yet", "the tracking number for {order} does not work",
                 "the package arrived damaged, the {item} is broken", "can I change the delivery address for {order}",
                 "I received the wrong {item} in my parcel", "when will order {order} ship",
                 "the courier left my parcel at the wrong house", "do you deliver to {country}",
                 "my order shows delivered but nothing came", "how long does express shipping to {country} take"],
    "feedback": ["I love the new {feature}, great work", "it would be nice to have an option to {action}",
                 "your support agent {name} was very helpful", "the new design of {feature} is confusing",
                 "please bring back the old {feature}", "suggestion: let us {action} in bulk",
                 "just wanted to say thanks for the quick fix", "the onboarding tutorial was too long",
                 "I think the {plan} plan should include {feature}", "overall a great product, keep it up"],
}
FILL = {
    "plan": ["Pro", "Team", "Basic", "Enterprise", "annual", "monthly"],
    "month": ["January", "March", "June", "September", "November"],
    "amount": ["$19.99", "$49", "€120", "$7.50", "£30"],
    "code": ["SPRING20", "WELCOME10", "BLACKFRIDAY", "LOYAL15"],
    "order": ["#48213", "#99120", "A-5531", "#77001", "ORD-3390", "#10442"],
    "feature": ["the dashboard", "reports", "the calendar", "the editor", "settings", "the mobile app"],
    "error": ["500", "E1042", "403 Forbidden", "timeout", "NullReference", "429"],
    "action": ["export my data", "share a project", "print invoices", "rename folders", "schedule reports"],
    "size": ["10 MB", "100MB", "2 GB"],
    "device": ["Android", "my iPhone", "the desktop app", "Chrome"],
    "name": ["Maria", "Sam", "Priya", "Tom", "Chen", "Olu"],
    "item": ["mug", "charger", "headphones", "jacket", "lamp"],
    "country": ["Canada", "Germany", "Brazil", "Japan", "Kenya"],
}
OPENERS = ["", "", "Hi, ", "Hello team, ", "Hey - ", "Urgent: ", "Good morning. ", "Quick question: "]
CLOSERS = ["", "", " Thanks.", " Please help.", " Thank you!", " This is frustrating.", " Any update?"]


def _ticket(rng: random.Random, label: str) -> str:
    text = rng.choice(SUBJECTS[label])
    for key, values in FILL.items():
        text = text.replace("{" + key + "}", rng.choice(values))
    text = rng.choice(OPENERS) + text + rng.choice(CLOSERS)
    if rng.random() < 0.12:  # a second topic: realistic ambiguity
        other = rng.choice([x for x in LABELS if x != label])
        extra = rng.choice(SUBJECTS[other])
        for key, values in FILL.items():
            extra = extra.replace("{" + key + "}", rng.choice(values))
        text += " Also, " + extra.lower()
    return text


def generate(seed: int, n: int, exclude: set[str], prefix: str) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen = set(exclude)
    while len(rows) < n:
        label = LABELS[len(rows) % len(LABELS)]
        text = _ticket(rng, label)
        if text in seen:
            continue
        seen.add(text)
        rows.append({"id": f"{prefix}{len(rows) + 1:04d}", "input": text, "expected": label})
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    train = generate(seed=1, n=600, exclude=set(), prefix="train-")
    evaluation = generate(seed=2, n=240, exclude={r["input"] for r in train}, prefix="t")
    write(HERE / "tickets_train.jsonl", train)
    write(HERE.parent / "suites" / "ticket-triage" / "tickets.jsonl", evaluation)


if __name__ == "__main__":
    main()
