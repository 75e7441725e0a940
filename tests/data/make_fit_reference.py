"""Reference outputs of ganlee.stats.fit before the package split (exp(a t + b t^2))."""

import sys

import numpy as np
import torch

from ganlee.config import load_config
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import FitSpec, expected_counts, fit_point, scan_batched, scan_iminuit

torch.set_num_threads(1)

spec = FitSpec.from_config(load_config(None))
rng = numpy_rng(20240607, "fit_reference")
rows = []
for params, n1, mu, k in [
    ((50.0, -1.0, 0.2), 0.0, None, 6),
    ((2.5, -1.0, 0.2), 0.0, None, 4),
    ((50.0, -1.0, 0.2), 120.0, 143.5, 4),
    ((500.0, -0.8, 0.1), 0.0, None, 2),
    ((0.8, -1.2, 0.3), 0.0, None, 2),
]:
    nu = expected_counts(spec, *params, n1=n1, mu=mu)
    rows.append(rng.poisson(nu, size=(k, spec.nbins)).astype(np.float64))
y = np.concatenate(rows)
res = scan_batched(y, spec, errors=True)
coarse = spec.with_masses(np.arange(135.0, 165.5, 5.0))
ref = scan_iminuit(y[:6], coarse, errors=True)
fp = fit_point(y[8], spec, 143.0)
out = dict(
    counts=y,
    z=res.z,
    n1=res.n1,
    status=res.status,
    bkg_params=res.bkg_params,
    bkg_status=res.bkg_status,
    lnl_b=res.lnl_b,
    lnl_sb=res.lnl_sb,
    sb_params=res.sb_params,
    bkg_errors=res.bkg_errors,
    sb_errors=res.sb_errors,
    im_z=ref.z,
    im_bkg_params=ref.bkg_params,
    im_sb_params=ref.sb_params,
    im_lnl_b=ref.lnl_b,
    fp_expected_sb=fp["expected_sb"],
    fp_z=np.array(fp["z"]),
)
np.savez(sys.argv[1], **out)
print(res.n_failed, np.nanmax(res.z))
