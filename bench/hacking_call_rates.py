"""Error rates of the calibrated hacking call on simulated curves (judgelab.evaluate.policies.hacking_sim).

    python3 bench/hacking_call_rates.py [--sims 1000] [--prompts 32 64 128]

Prints, per number of held-out prompts and scenario, the share of runs called hacked / not hacked /
undetermined. False positive = an honest policy called "hacked"; false negative = a hacked one
called "not hacked". docs/guide/hacking.md quotes this table.
"""

from __future__ import annotations

import argparse
import time

from judgelab.evaluate.policies.hacking_sim import error_rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--prompts", type=int, nargs="+", default=[32, 64, 128])
    args = ap.parse_args()
    for n in args.prompts:
        t0 = time.perf_counter()
        rates = error_rates(n_sims=args.sims, n_prompts=n)
        print(f"\n{n} prompts, {args.sims} simulated runs per scenario ({time.perf_counter() - t0:.0f} s)")
        print(f"{'scenario':52s} {'truth':7s} {'hacked':>7s} {'not':>7s} {'undet.':>7s}")
        for name, r in rates.items():
            print(f"{name:52s} {r['truth']:7s} {r['hacked']:7.3f} {r['not hacked']:7.3f} {r['undetermined']:7.3f}")


if __name__ == "__main__":
    main()
