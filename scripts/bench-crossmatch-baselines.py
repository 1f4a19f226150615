#!/usr/bin/env python3
"""Baselines for `parallax bench --suite spatial`: self-crossmatch of the same positions with
astropy's search_around_sky and scipy's cKDTree, on one core.

    python3 scripts/bench-crossmatch-baselines.py PARQUET [RADIUS_ARCSEC ...]

PARQUET is a file or directory with `ra` and `dec` columns in degrees (for example the demo's
gaiadr3/gaia_source). Prints seconds and pair counts (unordered pairs, self-pairs excluded),
to set beside Parallax's numbers measured on the same machine in the same run.
"""
import sys
import time

import numpy as np
import pyarrow.parquet as pq


def main() -> None:
    path = sys.argv[1]
    radii = [float(r) for r in sys.argv[2:]] or [5.0, 60.0]
    t = pq.read_table(path, columns=["ra", "dec"])
    ra = t.column("ra").to_numpy()
    dec = t.column("dec").to_numpy()
    n = len(ra)
    print(f"{n} positions from {path}")

    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky
    from scipy.spatial import cKDTree

    c = SkyCoord(ra=ra * u.deg, dec=dec * u.deg)
    xyz = np.column_stack(
        [np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
         np.cos(np.radians(dec)) * np.sin(np.radians(ra)),
         np.sin(np.radians(dec))])
    for r in radii:
        t0 = time.perf_counter()
        i1, i2, _, _ = search_around_sky(c, c, r * u.arcsec)
        ta = time.perf_counter() - t0
        pairs_a = int(np.count_nonzero(i1 < i2))
        t0 = time.perf_counter()
        tree = cKDTree(xyz)
        chord = 2 * np.sin(np.radians(r / 3600) / 2)
        pairs = tree.query_pairs(chord, output_type="ndarray")
        tk = time.perf_counter() - t0
        print(f"radius {r}\": astropy search_around_sky {ta:.3f} s ({pairs_a} pairs), "
              f"scipy cKDTree build+query_pairs {tk:.3f} s ({len(pairs)} pairs), "
              f"per million: astropy {ta / (n / 1e6):.2f} s, cKDTree {tk / (n / 1e6):.2f} s")


if __name__ == "__main__":
    main()
