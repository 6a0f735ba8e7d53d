//! Canonical build graphs and their fingerprints: graph digest, the tau Chebyshev sketch and the modular rank kernel.
