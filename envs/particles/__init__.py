"""Particle-system simulators (NRI/fNRI systems, Hamiltonian systems) and renderers."""
