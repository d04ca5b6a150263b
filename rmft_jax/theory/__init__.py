"""The no-regret fixed point of a single-layer Transformer: our reconstruction of Theorem 1.

The paper's body is not available to us; everything here is **our reconstruction**
of its Theorem 1 ("plugging in any global minimizer of the loss-for-theory gives a
no-regret learner"), derived in ``theory/no_regret.md``. No number produced here is
the paper's.

Setting (§1, :mod:`.setting`). Full-information online learning: reward vectors
``R_t = μ + σ ε_t ∈ R^d`` with a latent mean ``μ ~ N(0, σ_μ² I)`` and
``ε_t ~ N(0, I)``; the learner plays ``π_t ∈ Π`` (the ball ``B(0, R_Π)``, Env I, or
the simplex ``Δ_d``, Env II) from the history ``Z_{t−1} = (R_1, …, R_{t−1})``.

Model (§3, :mod:`.model`). Single-layer linear self-attention over tokens
``z_s = (R_s, 1)`` and a constant query token, followed by the map onto Π:
``π_θ,t = map_Π(g_θ(Z_{t−1}))``, with ``g = A S + V M w + b n v`` (``A`` the effective
matrix, ``V M w`` and ``b n v`` the terms that must vanish).

Loss-for-theory (§2, :mod:`.loss`), ``k = 1`` and infinite data:
``L(θ) = E (1/T) Σ_t ℓ(π_θ,t, y_t)``, with ``ℓ = ‖π − y‖²`` on the ball and the
cross-entropy on the simplex; labels ``y_t`` are the optimal action (pseudo-regret
ranking) or the per-round best response (realised-regret ranking).

Result (§4). The symmetric minimizer is ``π_t = map_Π(η* S_{t−1})`` — FTRL with the
quadratic regulariser on the ball, Hedge on the simplex (:mod:`.induced`) — with ``η*``
the solution of a one-dimensional problem (:mod:`.fixed_point`). Gradient descent of
the LSA on the loss finds it (:mod:`.dynamics`); :mod:`.report` runs every check and
draws Figure 1 (``rmft theory``).

From the meta-algorithm to the loss (§11). The real Iterative-RMFT loop on the same
model (:mod:`.rmft_lsa`), the diagnostics of what its selection optimises
(:mod:`.selection`) and the sweep against ``η*`` (:mod:`.rmft_lsa_report`,
``rmft theory --rmft``).

Each module imports only modules listed before it in the order setting, model, loss,
fixed_point, induced, dynamics, report, rmft_lsa, selection, rmft_lsa_report.
"""

from rmft_jax.theory.dynamics import DynamicsConfig, train_dynamics
from rmft_jax.theory.fixed_point import EtaStar, eta_star
from rmft_jax.theory.induced import induced_policies, measure_regret, regret_bound
from rmft_jax.theory.loss import family_loss, loss_for_theory, sequence_loss
from rmft_jax.theory.model import Effective, effective, init_lsa, lsa_outputs
from rmft_jax.theory.report import plot_figure1, run_theory
from rmft_jax.theory.rmft_lsa import LSAPolicy, LSARunConfig, PseudoRegretEnv, lsa_sft_loss, make_learner, run_config, training_env
from rmft_jax.theory.rmft_lsa_report import plot_theory_rmft, run_theory_rmft
from rmft_jax.theory.selection import one_step_map, pseudo_regret_curve, selection_tilt, tilt_summary
from rmft_jax.theory.setting import TheorySetting, make_labels, sample_sequence

__all__ = [
    "TheorySetting",
    "sample_sequence",
    "make_labels",
    "init_lsa",
    "lsa_outputs",
    "Effective",
    "effective",
    "sequence_loss",
    "loss_for_theory",
    "family_loss",
    "EtaStar",
    "eta_star",
    "induced_policies",
    "regret_bound",
    "measure_regret",
    "DynamicsConfig",
    "train_dynamics",
    "run_theory",
    "plot_figure1",
    "LSAPolicy",
    "PseudoRegretEnv",
    "training_env",
    "lsa_sft_loss",
    "make_learner",
    "LSARunConfig",
    "run_config",
    "pseudo_regret_curve",
    "one_step_map",
    "selection_tilt",
    "tilt_summary",
    "run_theory_rmft",
    "plot_theory_rmft",
]
