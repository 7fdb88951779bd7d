"""Generate the summarization example (deterministic): short reports with a reference summary.

    python examples/suites/summarization/make_docs.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Logistics", "Wayne Foods", "Hooli",
             "Vandelay Imports", "Soylent Energy", "Tyrell Robotics"]
METRICS = [("revenue", "rose", "fell"), ("operating costs", "fell", "rose"), ("customer churn", "fell", "rose"),
           ("net margin", "improved", "narrowed")]
ACTIONS = ["expand into {region}", "hire {n} engineers", "close two warehouses", "launch a subscription plan",
           "cut prices in {region}", "pause new store openings"]
FILLER = ["Analysts had expected a flat quarter.", "The company reports in US dollars.",
          "Shares moved little in early trading.", "The annual meeting is scheduled for spring.",
          "Management thanked staff for their work.", "Several board members attended remotely."]


def doc(rng: random.Random, i: int) -> dict[str, str]:
    company = rng.choice(COMPANIES)
    metric, up, down = rng.choice(METRICS)
    good = rng.random() < 0.6
    pct = rng.randint(2, 25)
    action = rng.choice(ACTIONS).format(region=rng.choice(["Europe", "Asia", "Brazil", "Canada"]), n=rng.randint(10, 90))
    quarter = rng.choice(["first", "second", "third", "fourth"])
    lead = f"{company} said its {metric} {up if good else down} {pct}% in the {quarter} quarter."
    decision = f"The board decided to {action}."
    filler = rng.sample(FILLER, 3)
    order = [lead, decision, *filler] if rng.random() < 0.7 else [filler[0], lead, decision, *filler[1:]]
    reference = f"{company}'s {metric} {up if good else down} {pct}% in the {quarter} quarter and it will {action}."
    return {"id": f"doc-{i:03d}", "input": " ".join(order), "expected": reference}


def main() -> None:
    rng = random.Random(11)
    rows = [doc(rng, i) for i in range(1, 61)]
    Path(__file__).with_name("documents.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
