"""Physical constants and per-ion data of the transport model (SI and eV)."""
from __future__ import annotations

__all__ = ["KB_EV", "KB_J", "E_CHARGE", "AMU_KG", "DIMENSIONALITY_FRACTION", "ION_CHARGE", "ION_MASS_AMU"]

KB_EV = 8.617333262e-5  # eV/K
KB_J = 1.380649e-23  # J/K
E_CHARGE = 1.602176634e-19  # C
AMU_KG = 1.66053906660e-27  # kg

#: A direction counts towards :meth:`TransportResult.dimensionality` when its
#: eigenvalue of D is at least this fraction of the largest one.
DIMENSIONALITY_FRACTION = 0.01

#: |charge| of common mobile ions (Nernst–Einstein ``z``).
ION_CHARGE = {"H": 1, "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Ag": 1, "Cu": 1, "Tl": 1,
              "Mg": 2, "Ca": 2, "Zn": 2, "Sr": 2, "Ba": 2, "Al": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "O": 2}
#: Atomic masses (u) of common mobile ions (grid partition-function rates).
ION_MASS_AMU = {"H": 1.008, "Li": 6.94, "Na": 22.990, "K": 39.098, "Rb": 85.468, "Cs": 132.905, "Ag": 107.868,
                "Cu": 63.546, "Tl": 204.38, "Mg": 24.305, "Ca": 40.078, "Zn": 65.38, "Sr": 87.62, "Ba": 137.327,
                "Al": 26.982, "F": 18.998, "Cl": 35.45, "Br": 79.904, "I": 126.904, "O": 15.999}

