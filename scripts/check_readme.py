"""Run every command of README.md's quick start as written, in order, from a clean clone (run it from the
repository root: `python3 scripts/check_readme.py`). Servers (`judgelab serve`) are started, probed on
/health and stopped. Prints one line per command (exit code, seconds) and a count of failures."""
import os
import re
import subprocess
import sys
import time
import urllib.request

text = open("README.md").read()
sec = text[text.index("## Quick start"):text.index("## Documentation")]
blocks = re.findall(r"```bash\n(.*?)```", sec, re.S)
cmds = []
for b in blocks:
    cur = ""
    for line in b.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        line = re.sub(r"\s+#.*$", "", line) if "#" in line and not line.strip().startswith("#") else line
        cur += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            cmds.append(cur.strip()); cur = ""
fails = 0
for c in cmds:
    t0 = time.time()
    if c.startswith("judgelab serve"):
        port = re.search(r"--port (\d+)", c).group(1)
        p = subprocess.Popen(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        ok = False
        for _ in range(240):
            try:
                ok = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200
                break
            except Exception:
                if p.poll() is not None: break
                time.sleep(1)
        os.killpg(p.pid, 15); p.wait(30)
        rc = 0 if ok else 1
    else:
        r = subprocess.run(c, shell=True, capture_output=True, text=True)
        rc = r.returncode
    fails += rc != 0
    print(f"rc={rc} {time.time()-t0:6.1f}s  {c}", flush=True)
    if rc != 0 and not c.startswith("judgelab serve"):
        print("   stderr:", r.stderr.strip().splitlines()[-3:] if r.stderr else "", flush=True)
print(f"{len(cmds)} commands, {fails} failed")
sys.exit(1 if fails else 0)
