"""Send requests through the gateway as an application would: each user asks once per round.

    python examples/ab/traffic.py MODEL [--users 300] [--rounds 1]

Users are routed by the registry (sticky, by a hash of the experiment's salt and the user id) and every
request is logged with the version and arm that served it (MODELCTL_REGISTRY, MODELCTL_LOG).
"""

from __future__ import annotations

import argparse
from collections import Counter

from tasks.gateway import Gateway

TEXT = ("Revenue grew 12% in the quarter. Costs fell as the new supplier contract took effect. "
        "Margins reached a record. The board approved a dividend.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    gateway = Gateway()
    arms: Counter[str] = Counter()
    for _ in range(args.rounds):
        for user in range(args.users):
            reply = gateway.complete(args.model, [{"role": "user", "content": TEXT}], user_id=f"user-{user}")
            arms[f"{reply.arm or 'production'} (v{reply.version})"] += 1
    gateway.close()
    print(f"{sum(arms.values())} requests from {args.users} users: " + ", ".join(f"{k}: {v}" for k, v in sorted(arms.items())))


if __name__ == "__main__":
    main()
