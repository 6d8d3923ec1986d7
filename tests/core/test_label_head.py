"""The inbox's classifier head (core.label.head): a retrain after a round of labels stays quick as
the labelled pile grows (issue 25's target: 3 s for 2,000 labelled pictures, measured by
benchmarks/labelling_bench.py), without learning less."""

import numpy as np

from catdog_desktop.core.label import choose, head


def _two_classes(rng, per_class, centres):
    x = np.concatenate([centres[k] + rng.normal(0, 2.0, (per_class, centres.shape[1])) for k in range(2)])
    return x.astype(np.float32), ["cats"] * per_class + ["dogs"] * per_class


def test_a_retrain_on_2000_labelled_pictures_makes_a_bounded_number_of_passes_and_still_learns(monkeypatch):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.35, (2, 256))
    x, labels = _two_classes(rng, 1000, centres)
    test_x, test_labels = _two_classes(rng, 500, centres)
    fits = []
    fit = head.fit_softmax

    def counted(x, y, num_classes, seed=0, steps=head.STEPS, **kwargs):
        fits.append((len(y), steps))
        return fit(x, y, num_classes, seed, steps=steps, **kwargs)

    monkeypatch.setattr(head, "fit_softmax", counted)
    trained = head.train_head(x, labels)

    # Each step is two passes over every picture's features: a bounded count keeps the retrain quick.
    assert sum(n * steps for n, steps in fits) <= 100_000, fits
    predicted = np.asarray(trained.class_names)[trained.probabilities(test_x).argmax(axis=1)]
    right = float((predicted == np.asarray(test_labels)).mean())
    assert right >= 0.95
    assert trained.accuracy is not None and abs(trained.accuracy - right) <= 0.03   # the estimate is honest

    fits.clear()
    few = head.train_head(x[995:1005], labels[995:1005])   # five a class: the full count of steps, cheap
    assert fits[0] == (10, head.STEPS) and few.trained_on == 10


def _blas_threads_seen(monkeypatch, module, name) -> list[int]:
    """Calls of ``module.name`` record how many threads NumPy's BLAS had then."""
    from threadpoolctl import threadpool_info

    threads = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        threads.append(max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return threads


def test_the_fit_and_the_ranking_run_on_one_blas_thread(monkeypatch):
    """Threads spinning on skinny products made a retrain on a few hundred pictures take seconds on a
    busy 2-core machine, and ranking the inbox twice as long (head.BLAS_THREADS)."""
    rng = np.random.default_rng(1)
    x, labels = _two_classes(rng, 150, rng.normal(0, 0.35, (2, 64)))
    fitting = _blas_threads_seen(monkeypatch, head, "fit_softmax")
    ranking = _blas_threads_seen(monkeypatch, choose, "_priority")

    trained = head.train_head(x, labels)
    ranked = choose.rank([f"p{i}.jpg" for i in range(40)], x[:40], trained.probabilities(x[:40]),
                         trained.class_names, labelled=x[40:], top=5)

    assert len(ranked) == 5
    assert fitting and set(fitting) == {1}
    assert ranking and set(ranking) == {1}


def test_the_temperature_brings_an_overconfident_heads_probabilities_down_to_how_often_it_is_right():
    from catdog_desktop.core.label.head import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    right = rng.random(400) < 0.9                      # right 90 % of the time ...
    said = np.where(right, labels, 1 - labels)
    probabilities = np.full((400, 2), 0.001)
    probabilities[np.arange(400), said] = 0.999         # ... and 99.9 % sure every time
    t = fit_temperature(probabilities, labels)
    tempered = np.exp(np.log(probabilities) / t)
    tempered /= tempered.sum(axis=1, keepdims=True)
    assert t > 2 and abs(tempered.max(axis=1).mean() - 0.9) < 0.02
    honest = np.where(np.arange(2) == labels[:, None], 0.9, 0.1)   # always right, 90 % sure: sure enough
    assert fit_temperature(honest, labels) == 1.0


def test_a_heads_probabilities_and_the_saved_layer_use_its_temperature():
    from catdog_desktop.core.label.head import train_head

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (40, 8)), rng.normal(0.6, 1, (40, 8))]).astype(np.float32)
    labels = ["a"] * 40 + ["b"] * 40                     # overlapping classes: a fit on them is too sure
    head = train_head(x, labels)
    assert head.temperature > 1
    cold = head.probabilities(x).max(axis=1).mean()
    head.temperature = 1.0
    assert head.probabilities(x).max(axis=1).mean() > cold
