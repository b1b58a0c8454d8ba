"""Image validation and conversion (the API's image convention)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metaaug.data import as_images, as_labels, check_image_shape


@pytest.mark.parametrize(
    "shape,expected",
    [
        ((4, 8, 8), (4, 1, 8, 8)),
        ((4, 8, 8, 3), (4, 3, 8, 8)),
        ((4, 3, 8, 8), (4, 3, 8, 8)),
        ((4, 1, 8, 8), (4, 1, 8, 8)),
        ((4, 8, 8, 1), (4, 1, 8, 8)),
    ],
)
def test_layouts_are_converted_to_nchw(shape, expected):
    out = as_images(np.zeros(shape, dtype=np.uint8))
    assert out.shape == expected and out.dtype == torch.float32


def test_uint8_is_scaled_and_channels_last_keeps_pixels():
    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    out = as_images(x)
    assert float(out[1, 2, 3, 1]) == pytest.approx(x[1, 3, 1, 2] / 255.0)
    assert float(out.max()) <= 1.0


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((4, 8)), "3 dims"),
        (np.zeros((2, 3, 4, 5, 6)), "3 dims"),
        (np.zeros((0, 8, 8)), "empty"),
        (np.full((2, 8, 8), np.nan), "NaN"),
        (np.full((2, 8, 8), 2.0), r"outside \[0, 1\]"),
        (np.full((2, 8, 8), -0.5), r"outside \[0, 1\]"),
        (np.zeros((2, 8, 8), dtype=np.int32), "dtype"),
        (np.zeros((2, 7, 8, 9)), "channel axis"),
        ([[0.0]], "numpy array or torch tensor"),
    ],
)
def test_bad_images_raise_value_error_naming_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        as_images(bad)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(2, 9), st.sampled_from([1, 3]))
def test_float_images_round_trip_values(n, size, channels):
    x = torch.rand(n, channels, size, size)
    out = as_images(x)
    assert torch.equal(out, x)


def test_labels_validation():
    assert as_labels(np.array([0, 1, 1]), 3).dtype == torch.int64
    assert as_labels(np.array([0.0, 2.0]), 2).tolist() == [0, 2]
    with pytest.raises(ValueError, match="integer"):
        as_labels(np.array([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        as_labels([0, 1, 2], 2)


def test_check_image_shape_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 8, 8\).*\(1, 8, 8\)"):
        check_image_shape(torch.zeros(2, 3, 8, 8), (1, 8, 8))


def test_is_line_drawing_on_real_data(dev_split, digits):
    from metaaug.data.images import is_line_drawing

    (X_train, _), (X_test, _) = dev_split
    assert is_line_drawing(X_train) and is_line_drawing(X_test)  # Omniglot strokes at 28x28
    assert not is_line_drawing(digits[0])  # soft 8x8 digits
    rgb = X_train[:50].expand(-1, 3, -1, -1)
    assert not is_line_drawing(rgb) and not is_line_drawing(torch.rand(50, 1, 28, 28))


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=8),
    st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True),
)
def test_rotated_classes_are_new_labels_of_rotated_images(labels, turns):
    from metaaug.data.rotations import add_rotated_classes

    X = torch.rand(len(labels), 1, 5, 5)
    X_out, y_out = add_rotated_classes(X, labels, quarter_turns=turns)
    n, stride = len(labels), max(labels) + 1
    assert X_out.shape == (n * (1 + len(turns)), 1, 5, 5) and y_out.shape == (len(X_out),)
    assert torch.equal(X_out[:n], X) and y_out[:n].tolist() == labels
    for position, turn in enumerate(turns, start=1):
        block = slice(position * n, (position + 1) * n)
        assert torch.equal(torch.rot90(X_out[block], -turn, dims=(2, 3)), X)
        assert y_out[block].tolist() == [label + position * stride for label in labels]
    # a class and its rotations never share a label, and images of one class stay together
    pairs = {(int(a), int(b)) for a, b in zip(y_out[:n], y_out[n : 2 * n])}
    assert all(a != b for a, b in pairs) and len(torch.unique(y_out)) == len(set(labels)) * (1 + len(turns))


def test_rotated_classes_reject_bad_input():
    from metaaug.data.rotations import add_rotated_classes

    with pytest.raises(ValueError, match="square"):
        add_rotated_classes(torch.rand(2, 1, 4, 5), [0, 1])
    with pytest.raises(ValueError, match="quarter_turns"):
        add_rotated_classes(torch.rand(2, 1, 4, 4), [0, 1], quarter_turns=(1, 4))
    with pytest.raises(ValueError, match="quarter_turns"):
        add_rotated_classes(torch.rand(2, 1, 4, 4), [0, 1], quarter_turns=(2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        add_rotated_classes(torch.rand(2, 1, 4, 4), [-1, 1])
