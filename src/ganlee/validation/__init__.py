"""Physics validation of the GAN-based LEE: GAN toys vs MC-bootstrap toys, GAN
amplification, GAN-ensemble spread, signal injection and sensitivity, sculpting diagnostics.

Modules: ``studies`` (study names and toy configurations), ``compare`` (two-sample tests,
bootstrap quantiles), ``amplification`` (arXiv:2008.06545), ``ensemble``, ``sensitivity``
(Asimov Z, arXiv:1007.1727), ``sculpting``, ``summary``, ``plots``, ``commands`` (CLI).
"""
