"""benchmarks.paired_gains: paired differences per seed, their standard error and the verdict."""

import math

from benchmarks.paired_gains import read_rows, report, standard_error, verdict

CSV = """config,seed_index,mlflow_run_id,test/num_samples,test/top1
base,0,a,384,0.10
base,1,b,384,0.12
base,2,c,384,0.11
plus,0,d,384,0.20
plus,1,e,384,0.21
plus,2,f,384,0.23
same,0,g,384,0.21
same,1,h,384,0.20
same,2,i,384,0.22
"""


def test_paired_gains_by_seed_with_standard_error(tmp_path):
    path = tmp_path / "comparison.csv"
    path.write_text(CSV)
    rows, clips = read_rows(path, "test/top1")
    assert clips == 384 and [round(v, 1) for v in rows["plus"]] == [20.0, 21.0, 23.0]
    lines = report(rows, clips)
    plus = next(line for line in lines if line.startswith("| plus |"))
    # paired: +10, +9, +12 -> mean +10.3, sd 1.53, SE 0.88
    assert "+10.0 / +9.0 / +12.0" in plus and "+10.3 ± 0.9" in plus and "helps" in plus
    same = next(line for line in lines if line.startswith("| same |"))
    assert "within noise" in same  # +1 / -1 / -1 against plus


def test_one_seed_falls_back_to_the_binomial_error():
    se = standard_error([5.0], 30.0, 25.0, 384)
    assert math.isclose(se, 100 * math.sqrt((0.3 * 0.7 + 0.25 * 0.75) / 384))
    assert round(se, 2) == 3.22  # points: a 5-point gain of one seed is within noise
    assert verdict(5.0, se) == "within noise" and verdict(7.0, se) == "helps" and verdict(-9.0, se) == "hurts"
