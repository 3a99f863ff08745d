"""Tests of theory/feature_learning: parameterization tables, slopes, per-tensor LRs, the layer.

All tiny widths; the width scaling itself is judged by the suite (suites/theory.toml)."""

import math
import tomllib
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmbench.tasks.markov import markov_batches, markov_chain
from theory import feature_learning as fl
from theory.feature_learning import coordinates, training

REPO = Path(__file__).parent.parent


@pytest.mark.parametrize("param", sorted(fl.PARAMETERIZATIONS))
def test_tables_cover_every_tensor(param):
    assert set(fl.PARAMETERIZATIONS[param]) == set(fl.TENSORS)


_S512 = 1 / math.sqrt(512)  # fan-in E = 2 * 256 at N_u = 256


@pytest.mark.parametrize(
    ("param", "tensor", "n_u", "n_x", "disc", "expected"),
    [
        # SP: fan-in 1/sqrt(fan-in) at every width (E = 2 N_u, R = E/16), N(0,1) embedding
        ("sp", "W_B", 256, 64, "zoh", _S512),
        ("sp", "W_C", 1024, 16, "euler", 1 / math.sqrt(2048)),
        ("sp", "W_dt_up", 256, 16, "zoh", 1 / math.sqrt(32)),
        ("sp", "embedding", 1024, 64, "zoh", 1.0),
        ("sp", "readout", 256, 16, "zoh", 1 / 16),
        # heuristic muP: hidden fan-in, readout 1/N_u (= 1/8 at base 64)
        ("mup", "W_C", 256, 64, "euler", _S512),
        ("mup", "readout", 256, 16, "zoh", (1 / 8) * (64 / 256)),
        # muP-SSM v6: ZOH fan-in in N_u, no N_x factor; Euler B and C carry N_x^-1/2
        ("mup_ssm", "W_B", 256, 64, "zoh", _S512),
        ("mup_ssm", "W_B", 256, 64, "euler", _S512 * 0.5),
        ("mup_ssm", "W_C", 256, 4, "euler", _S512 * 2.0),
        ("mup_ssm", "W_dt_up", 256, 64, "euler", 1 / math.sqrt(32)),
        # v2: W_C fan-in times (16/N_x), in both discretisations
        ("mup_ssm_v2", "W_C", 256, 64, "euler", _S512 * (16 / 64)),
    ],
)
def test_init_std_values(param, tensor, n_u, n_x, disc, expected):
    got = fl.init_std(param, tensor, n_u, n_x, discretization=disc)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("param", sorted(fl.PARAMETERIZATIONS))
@pytest.mark.parametrize("disc", ["zoh", "euler"])
def test_parameterizations_coincide_at_base_width(param, disc):
    for t in fl.TENSORS:
        assert fl.init_std(param, t, fl.BASE_N_U, fl.BASE_N_X, discretization=disc) == fl.init_std(
            "sp", t, fl.BASE_N_U, fl.BASE_N_X
        )
        for opt in ("adam", "sgd"):
            assert fl.lr_multiplier(param, t, opt, fl.BASE_N_U, fl.BASE_N_X, disc) == 1.0


@pytest.mark.parametrize(
    ("param", "disc"), [("sp", "zoh"), ("mup_ssm", "zoh"), ("mup_ssm", "euler")]
)
def test_initialised_net_has_the_stated_stds(param, disc):
    n_u, n_x = 128, 32
    net = fl.init_net(param, n_u, n_x, key=jax.random.PRNGKey(0), discretization=disc)
    e, r = 2 * n_u, fl.dt_rank(2 * n_u)
    shapes = {"in_proj": (2 * e, n_u), "W_B": (n_x, e), "W_C": (n_x, e), "W_dt_down": (r, e),
              "W_dt_up": (e, r), "out_proj": (n_u, e), "conv": (e, 4)}  # fmt: skip
    for tensor, shape in shapes.items():
        arr = np.asarray(getattr(net.layers, tensor))
        assert arr.shape == (3, *shape), tensor
        want = fl.init_std(param, tensor, n_u, n_x, discretization=disc)
        # >= 3 * 1024 Gaussian entries per tensor: the sample std is within ~4% of the truth
        assert arr.std() == pytest.approx(want, rel=0.08), tensor
    for tensor in ("embedding", "readout"):
        arr = np.asarray(getattr(net, tensor))
        assert arr.std() == pytest.approx(fl.init_std(param, tensor, n_u, n_x), rel=0.1)
    np.testing.assert_allclose(np.asarray(net.layers.D), 1.0)
    # S4D-real: A[i, n] = -(n + 1) in every channel and layer, so A's spectrum grows with N_x
    np.testing.assert_allclose(
        -np.exp(np.asarray(net.layers.A_log)), np.broadcast_to(-np.arange(1, n_x + 1), (3, e, n_x)),
        rtol=1e-6,
    )  # fmt: skip
    # Mamba's Δ bias: softplus(b) = dt in [1e-3, 1e-1]
    dt = np.log1p(np.exp(np.asarray(net.layers.b_delta, float)))
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 1e-1 * (1 + 1e-4)


def test_lr_multipliers_follow_the_exponents():
    # muP-SSM v6: Adam W_C ~ 1/N_u (ZOH), 1/(N_u sqrt N_x) (Euler); SGD W_B ~ 1/N_u; SGD A ~ N_u
    assert fl.lr_multiplier("mup_ssm", "W_C", "adam", 256, 64) == pytest.approx(1 / 4)
    assert fl.lr_multiplier("mup_ssm", "W_C", "adam", 256, 64, "euler") == pytest.approx(1 / 8)
    assert fl.lr_multiplier("mup_ssm", "W_B", "sgd", 256, 64, "euler") == pytest.approx(1 / 4)
    assert fl.lr_multiplier("mup_ssm", "A_log", "sgd", 128, 32) == pytest.approx(2.0)
    assert fl.lr_multiplier("mup_ssm_v2", "A_log", "sgd", 128, 32) == pytest.approx(4.0)
    assert fl.lr_multiplier("mup", "W_B", "sgd", 1024, 16) == 1.0
    assert fl.lr_multiplier("sp", "W_C", "adam", 1024, 256) == 1.0
    with pytest.raises(ValueError, match="optimizer"):
        fl.lr_multiplier("sp", "W_C", "lion", 64, 16)
    with pytest.raises(ValueError, match="parameterization"):
        fl.init_std("ntk", "W_C", 64, 16)
    with pytest.raises(ValueError, match="discretization"):
        fl.init_std("sp", "W_B", 64, 16, discretization="rk4")
    # Euler overrides touch only the tensors they name
    for param, over in fl.EULER_OVERRIDES.items():
        for t in set(fl.TENSORS) - set(over):
            for opt in ("adam", "sgd"):
                m = [fl.lr_multiplier(param, t, opt, 256, 64, d) for d in ("zoh", "euler")]
                assert m[0] == m[1], (param, t, opt)
    assert [fl.dt_rank(e) for e in (16, 17, 128, 2048)] == [1, 2, 8, 128]  # Mamba's ceil(E/16)


@settings(max_examples=20, deadline=None)
@given(
    slope=st.floats(-2.0, 2.0),
    scale=st.floats(1e-3, 1e3),
    widths=st.lists(st.sampled_from([8, 16, 32, 64, 128, 256, 512, 1024]), min_size=2, unique=True),
)
def test_fit_slope_recovers_power_laws(slope, scale, widths):
    vals = [scale * w**slope for w in widths]
    assert fl.fit_slope(widths, vals) == pytest.approx(slope, abs=1e-9)


def test_fit_slope_least_squares_and_degenerate_input():
    rng = np.random.default_rng(0)
    w = np.array([64, 128, 256, 512, 1024], float)
    noise = np.exp(0.05 * rng.standard_normal(5))
    got = fl.fit_slope(w, 3.0 * w**0.5 * noise)
    # oracle: closed-form least squares slope
    lx, ly = np.log(w), np.log(3.0 * w**0.5 * noise)
    want = np.sum((lx - lx.mean()) * (ly - ly.mean())) / np.sum((lx - lx.mean()) ** 2)
    assert got == pytest.approx(want, rel=1e-10)
    assert math.isnan(fl.fit_slope([1, 2], [1.0, 0.0]))
    assert math.isnan(fl.fit_slope([1, 2], [1.0, float("inf")]))
    with pytest.raises(ValueError):
        fl.fit_slope([1], [1.0])


def _layer_oracle(layer, z, euler):
    """Python-loop oracle of SSMLayer: explicit per-time, per-channel, per-state recurrence."""
    z = np.asarray(z, float)
    p = {k: np.asarray(getattr(layer, k), float) for k in fl.TENSORS[1:-1]}
    L = z.shape[0]
    d = p["in_proj"].shape[0] // 2  # d_inner
    zn = z / np.sqrt(np.mean(z * z, axis=-1, keepdims=True) + 1e-6)
    ug = zn @ p["in_proj"].T
    u_pre, gate = ug[:, :d], ug[:, d:]
    k = p["conv"].shape[1]
    conv = np.zeros_like(u_pre)
    for t in range(L):
        for j in range(k):
            s = t - (k - 1) + j
            if s >= 0:
                conv[t] += u_pre[s] * p["conv"][:, j]
    u = conv / (1 + np.exp(-conv))
    A = -np.exp(p["A_log"])
    h = np.zeros((d, A.shape[1]))
    ys = np.zeros((L, d))
    hs = np.zeros((L, d, A.shape[1]))
    for t in range(L):
        B, C = p["W_B"] @ u[t], p["W_C"] @ u[t]
        delta = np.log1p(np.exp(p["W_dt_up"] @ (p["W_dt_down"] @ u[t]) + p["b_delta"]))
        for i in range(d):
            for n in range(A.shape[1]):
                dA = delta[i] * A[i, n]
                a = np.exp(dA)  # Mamba's kernel: A_bar = exp(ΔA) in both
                b = delta[i] * B[n] if euler else (np.exp(dA) - 1) / A[i, n] * B[n]
                h[i, n] = a * h[i, n] + b * u[t, i]
        hs[t] = h
        ys[t] = h @ C + p["D"] * u[t]
    out = (ys * (gate / (1 + np.exp(-gate)))) @ p["out_proj"].T
    return z + out, hs, ys, u


@pytest.mark.parametrize("euler", [False, True])
def test_layer_matches_python_loop_oracle(euler):
    net = fl.init_net("sp", 8, 4, key=jax.random.PRNGKey(1), dtype=jnp.float64)
    layer = jax.tree_util.tree_map(lambda a: a[0], net.layers)
    z = jax.random.normal(jax.random.PRNGKey(2), (6, 8), jnp.float64)
    got = eqx.filter_jit(lambda m, z, e: m(z, e))(layer, z, euler)
    want = _layer_oracle(layer, z, euler)
    # float64 end to end: agreement to rounding
    for g, w in zip(got[:3], want[:3]):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-10, atol=1e-12)


def test_state_sizes_are_l2_over_the_state_axis():
    # oracle: explicit loops; x, Δx by the RMS over (batch, time, channel) of the L2 norm over the
    # state axis, y and y_ssm by their RMS over every coordinate
    rng = np.random.default_rng(0)
    x, x0 = rng.normal(size=(2, 3, 2, 4, 5, 6))  # (layers, batch, L, E, n)
    y, y0, ys, ys0 = rng.normal(size=(4, 3, 2, 4, 5))
    j = jnp.asarray
    got = np.asarray(training._rms_all((j(x), j(y), j(ys)), (j(x0), j(y0), j(ys0))))
    for layer in range(3):
        l2 = [np.sqrt(np.sum(a[layer, b, t, i] ** 2)) for a in (x, x - x0)
              for b in range(2) for t in range(4) for i in range(5)]  # fmt: skip
        want_x = np.sqrt(np.mean(np.square(l2[:40])))
        want_dx = np.sqrt(np.mean(np.square(l2[40:])))
        np.testing.assert_allclose(got[0, layer], want_x, rtol=1e-5)
        np.testing.assert_allclose(got[2, layer], want_dx, rtol=1e-5)
        np.testing.assert_allclose(got[1, layer], np.sqrt(np.mean(y[layer] ** 2)), rtol=1e-5)
        np.testing.assert_allclose(got[5, layer], np.sqrt(np.mean((ys - ys0)[layer] ** 2)), rtol=1e-5)  # fmt: skip


def test_suite_block_parses_and_scopes_every_check():
    from ssmbench.harness.suite import load_suite

    suite = load_suite(REPO / "suites" / "theory.toml")
    exp = [e for e in suite.experiments if e.name == "feature-learning"]
    assert len(exp) == 1 and len(exp[0].seeds) >= 4  # >= 4 inits (one per seed) per width
    checks = [c for c in suite.checks if c.experiment == "feature-learning"]
    assert len(checks) >= 8
    for c in checks:
        # every verdict line says whose exponents it judges
        assert "our derivation" in c.scope or "the paper's exponents" in c.scope, c.claim


def _tiny_data():
    rng = np.random.default_rng(0)
    trans = markov_chain(32, rng)
    return markov_batches(trans, 2, 2, 8, rng), markov_batches(trans, 1, 2, 8, rng)[0]


def test_per_tensor_learning_rates_are_applied():
    """One SGD step moves each tensor by exactly -eta * multiplier * grad; one Adam step by
    eta * multiplier * sign(grad). Same shapes as the coordinate-check test (one compile)."""
    param, n_u, n_x, eta = "mup_ssm", 16, 4, 0.1
    net = fl.init_net(param, n_u, n_x, key=jax.random.PRNGKey(0))
    data, probe = _tiny_data()
    seqs, probe = jnp.asarray(data[0]), jnp.asarray(probe[:, :-1])
    grads = eqx.filter_jit(eqx.filter_grad(training._loss))(net, seqs, jnp.asarray(False))
    f32 = np.finfo(np.float32).eps

    def step_with(use_adam):
        lrs = fl.lr_tree(net, param, "adam" if use_adam else "sgd", n_u, n_x)
        new, *_ = training._probe_and_step(
            net, training._opt_init(net), seqs, probe, lrs, jnp.float32(eta),
            jnp.asarray(use_adam), jnp.asarray(False),
        )  # fmt: skip
        return new

    new = step_with(False)
    for t in ("W_B", "W_C", "A_log", "W_dt_down", "W_dt_up", "in_proj"):
        old = np.asarray(getattr(net.layers, t))
        step = np.asarray(getattr(new.layers, t)) - old
        want = (
            -eta
            * fl.lr_multiplier(param, t, "sgd", n_u, n_x)
            * np.asarray(getattr(grads.layers, t))
        )
        # float32: new - old loses ~1 ulp of |old|; the step itself is exact up to rounding
        np.testing.assert_allclose(step, want, rtol=1e-4, atol=4 * f32 * np.abs(old).max())
    new_a = step_with(True)
    for t in ("W_C", "W_B"):
        old = np.asarray(getattr(net.layers, t))
        step = np.abs(np.asarray(getattr(new_a.layers, t)) - old)
        nz = np.abs(np.asarray(getattr(grads.layers, t))) > 1e-12
        want = eta * fl.lr_multiplier(param, t, "adam", n_u, n_x)
        np.testing.assert_allclose(step[nz], want, rtol=1e-3, atol=4 * f32 * np.abs(old).max())


def test_coordinate_check_rows_and_determinism():
    data, probe = _tiny_data()
    kw = dict(key=jax.random.PRNGKey(0), data=data, probe=probe, optimizer="adam",
              discretization="euler", eta=1e-2, steps=2)  # fmt: skip
    rows = fl.coordinate_check("mup_ssm", 16, 4, **kw)
    again = fl.coordinate_check("mup_ssm", 16, 4, **kw)
    assert [r["value"] for r in rows] == [r["value"] for r in again]
    # 3 layers x (x, y, y_ssm at steps 0..2 + dx, dy, dy_ssm at steps 1..2)
    assert len(rows) == 3 * (3 * 3 + 3 * 2)
    assert all(np.isfinite(r["value"]) and r["value"] >= 0 for r in rows)
    assert all(r["value"] > 0 for r in rows if r["step"] > 0)


def test_wrong_inputs_fail_early():
    net = fl.init_net("sp", 8, 4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="tokens"):
        net(jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="parts"):
        fl.feature_learning(seed=0, parts=["both"])


def test_several_inits_average_slopes_against_direct_calls():
    # oracle: coordinate_check called directly for each init key, slopes fitted per init, averaged
    kw = dict(parts=["coord"], nu_widths=[8, 16], nx_values=[4], nx_sweep=[], optimizers=["adam"],
              discretisations=["zoh"], coord_steps=1, batch=2, length=4, vocab=8)  # fmt: skip
    rows = fl.feature_learning(seed=3, parameterisation="mup_ssm", n_inits=2, record_inits=True, **kw)  # fmt: skip
    rng = np.random.default_rng(3)
    trans = markov_chain(8, rng)
    data = markov_batches(trans, 1, 2, 4, rng)
    probe = markov_batches(trans, 1, 4, 4, rng)[0]
    key = jax.random.PRNGKey(3)
    direct = {}
    for i, k in enumerate([key, jax.random.fold_in(key, 1)]):
        for n_u in (8, 16):
            for r in fl.coordinate_check("mup_ssm", n_u, 4, key=k, data=data, probe=probe,
                                         optimizer="adam", discretization="zoh", eta=1e-2,
                                         steps=1, vocab=8):  # fmt: skip
                direct[(r["quantity"], r["layer"], r["step"], n_u, i)] = r["value"]
    slopes = {(r["quantity"], r["layer"], r["step"]): r["value"] for r in rows if r["metric"] == "slope"}  # fmt: skip
    ses = {(r["quantity"], r["layer"], r["step"]): r["value"] for r in rows if r["metric"] == "slope_se"}  # fmt: skip
    assert slopes and set(slopes) == set(ses)
    for (q, layer, step), got in slopes.items():
        per = [fl.fit_slope([8, 16], [direct[(q, layer, step, w, i)] for w in (8, 16)]) for i in (0, 1)]  # fmt: skip
        np.testing.assert_allclose(got, np.mean(per), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ses[(q, layer, step)], abs(per[0] - per[1]) / 2, rtol=1e-5, atol=1e-6)  # fmt: skip
    # with two widths, the local slope over the two largest is the fitted slope
    tops = {(r["quantity"], r["layer"], r["step"]): r["value"] for r in rows if r["metric"] == "top_slope"}  # fmt: skip
    top_ses = {(r["quantity"], r["layer"], r["step"]): r["value"] for r in rows if r["metric"] == "top_slope_se"}  # fmt: skip
    for k, v in slopes.items():
        np.testing.assert_allclose(tops[k], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(top_ses[k], ses[k], rtol=1e-5, atol=1e-6)
    # record_inits: one row per init, equal to the direct call's RMS
    per_init = [r for r in rows if r["metric"].endswith("_init")]
    assert len(per_init) == 2 * 2 * len({(q, lay, st) for q, lay, st, _, _ in direct})
    for r in per_init:
        q = r["metric"][len("rms_") : -len("_init")]
        want = direct[(q, r["layer"], r["step"], r["n_u"], r["init"])]
        np.testing.assert_allclose(r["value"], want, rtol=1e-6)
    with pytest.raises(ValueError, match="n_inits"):
        fl.feature_learning(seed=0, n_inits=0)
    with pytest.raises(ValueError, match="top_widths"):
        fl.feature_learning(seed=0, top_widths=1)


def test_range_slopes_recovers_known_power_laws():
    # synthetic per-init rows: RMS = c_i * w^-0.2 up to 1024, flat beyond; oracle: np.polyfit
    import pandas as pd

    rng = np.random.default_rng(0)
    widths = [64, 128, 256, 512, 1024, 2048, 4096]
    rows = []
    for q in fl.QUANTITIES:
        for layer in (0, 1):
            for step in (0, 1):
                for i in range(3):
                    c = np.exp(rng.normal(0, 0.05, len(widths)))
                    for w, ci in zip(widths, c):
                        v = ci * min(w, 1024) ** -0.2
                        rows.append(dict(optimizer="adam", discretisation="zoh", sweep="n_u@n_x=16",
                                         metric=f"rms_{q}_init", quantity=None, layer=layer,
                                         step=step, init=i, n_u=w, value=v))  # fmt: skip
    df = pd.DataFrame(rows)
    ent, mean = fl.range_slopes(df, (64, 1024), (1024, 4096))
    # updates have no step-0 entry; states have both steps
    assert set(ent[ent["quantity"] == "dx"]["step"]) == {1}
    assert set(ent[ent["quantity"] == "x"]["step"]) == {0, 1}
    for _, e in ent.iterrows():
        g = df[(df["metric"] == f"rms_{e['quantity']}_init") & (df["layer"] == e["layer"])
               & (df["step"] == e["step"])]  # fmt: skip
        for name, (a, b) in (("lo", (64, 1024)), ("hi", (1024, 4096))):
            per = []
            for _, gi in g.groupby("init"):
                gi = gi[(gi["n_u"] >= a) & (gi["n_u"] <= b)]
                per.append(np.polyfit(np.log(gi["n_u"]), np.log(gi["value"]), 1)[0])
            np.testing.assert_allclose(e[f"s_{name}"], np.mean(per), rtol=1e-9)
            np.testing.assert_allclose(e[f"se_{name}"], np.std(per, ddof=1) / np.sqrt(3), rtol=1e-9)
    # noise 0.05 per point: the low range recovers -0.2, the high range 0, within 0.1
    assert np.all(np.abs(mean["s_lo"] + 0.2) < 0.1) and np.all(np.abs(mean["s_hi"]) < 0.1)
    assert np.all(mean["max_abs_hi"] >= mean["s_hi"].abs() - 1e-12)
    with pytest.raises(ValueError, match="record_inits"):
        fl.range_slopes(df.assign(metric="rms_x"), (64, 1024), (1024, 4096))
    with pytest.raises(ValueError, match="two widths"):
        fl.range_slopes(df, (64, 1024), (4096, 8192))


def test_layer_inputs_and_b_terms_against_loops():
    net0 = fl.init_net("mup_ssm", 8, 4, key=jax.random.PRNGKey(5), dtype=jnp.float64)
    leaves, tree = jax.tree_util.tree_flatten(net0)
    keys = jax.random.split(jax.random.PRNGKey(6), len(leaves))
    net = jax.tree_util.tree_unflatten(
        tree, [a + 0.1 * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)]
    )  # a "trained" net: every tensor moved
    probe = jnp.asarray([[1, 2, 3, 4, 5], [0, 3, 1, 2, 2]])
    euler = False

    def oracle_inputs(m, tokens):  # u of every layer, by the Python-loop layer oracle
        z, us = np.asarray(m.embedding, float)[np.asarray(tokens)], []
        for i in range(3):
            z, _, _, u = _layer_oracle(
                jax.tree_util.tree_map(lambda a, i=i: a[i], m.layers), z, euler
            )
            us.append(u)
        return np.stack(us)

    u = np.stack([oracle_inputs(net, t) for t in probe])  # (batch, layers, L, d)
    u0 = np.stack([oracle_inputs(net0, t) for t in probe])
    np.testing.assert_allclose(np.asarray(net.layer_inputs(probe[0], euler)), u[0], rtol=1e-10)
    wb, wb0 = np.asarray(net.layers.W_B), np.asarray(net0.layers.W_B)
    parts = [
        np.einsum("blsd,lnd->blsn", u, wb) - np.einsum("blsd,lnd->blsn", u0, wb0),
        np.einsum("blsd,lnd->blsn", u, wb - wb0),
        np.einsum("blsd,lnd->blsn", u - u0, wb0),
        u - u0,
    ]
    np.testing.assert_allclose(parts[0], parts[1] + parts[2], rtol=1e-10, atol=1e-12)
    want = np.stack([np.sqrt(np.mean(p**2, axis=(0, 2, 3))) for p in parts])
    got = np.asarray(coordinates._b_terms(net, net0, probe, jnp.asarray(euler)))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_b_path_rows():
    kw = dict(nu_widths=[8, 16, 32], n_x=4, steps=2, batch=2, length=4, vocab=8, n_inits=2,
              hi_widths=2)  # fmt: skip
    rows = fl.b_path(seed=1, **kw)
    # the runner accepts only the suite's declared columns besides metric and value
    suite = tomllib.loads((REPO / "suites" / "feature-learning-bpath.toml").read_text())
    declared = set(suite["experiment"][0]["columns"]) | {"metric", "value"}
    assert set().union(*rows) <= declared
    rms = {(r["metric"], r["layer"], r["step"], r["n_u"]): r["value"] for r in rows
           if r["metric"].startswith("rms_")}  # fmt: skip
    assert len(rms) == 4 * 3 * 2 * 3 and all(v > 0 for v in rms.values())
    hi = {(r["quantity"], r["layer"], r["step"]): r["value"] for r in rows if r["metric"] == "hi_slope"}  # fmt: skip
    for r in rows:
        if r["metric"] == "hi_slope_mean":
            want = np.mean([hi[(r["quantity"], r["layer"], s)] for s in (1, 2)])
            assert r["value"] == pytest.approx(want)
        if r["metric"] == "input_over_weight":
            k = (r["layer"], r["step"], r["n_u"])
            want = rms[("rms_W_B_du", *k)] / rms[("rms_dW_B_u", *k)]
            assert r["value"] == pytest.approx(want, rel=1e-9)
    # two widths in the high range: the slope of the geometric means is the mean per-init slope
    for (q, layer, step), v in hi.items():
        g = [rms[(f"rms_{q}", layer, step, w)] for w in (16, 32)]
        assert v == pytest.approx(fl.fit_slope([16, 32], g), abs=1e-9)
    with pytest.raises(ValueError, match="hi_widths"):
        fl.b_path(seed=0, **{**kw, "hi_widths": 3})
