"""Fails unless a taplint run (shared/tools/run_taplint.sh) reported 0 errors and 0 warnings,
its EXA stage found and checked the service's examples, and the async (QAS), UWS and upload
(UPL) stages actually ran."""
import pathlib
import re
import sys

out = pathlib.Path(sys.argv[1])
text = (out / "taplint.txt").read_text(errors="replace")
lines = text.splitlines()
totals = [l for l in lines if l.startswith("Totals:")]
if not totals:
    sys.exit("taplint did not complete: no Totals line")
bad = [l for l in lines if re.match(r"^[EW]-[A-Z]{3}-", l)]
for l in bad:
    print(l)
# LOC and OBS fail by design on a catalogue without ObsLocTAP/ObsCore tables.
failures = [l for l in lines if re.match(r"^F-[A-Z]{3}-", l) and not re.match(r"^F-(LOC|OBS)-", l)]
for l in failures:
    print(l)
exa = [l for l in lines if re.match(r"^[EWISF]-EXA-", l)]
print(totals[-1])
print(f"EXA stage: {len(exa)} report lines")
if bad:
    sys.exit(f"taplint: {len(bad)} errors/warnings")
if failures:
    sys.exit(f"taplint: {len(failures)} failures")
if not exa or any(l.startswith("F-EXA-EXNO") for l in exa):
    sys.exit("taplint: the EXA stage did not find the examples")
for stage in ("QAS", "UWS", "UPL"):
    if not any(re.match(rf"^[EWISF]-{stage}-", l) for l in lines):
        sys.exit(f"taplint: the {stage} stage did not run")
print("taplint: clean (QAS, UWS and UPL stages ran)")
