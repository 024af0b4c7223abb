"""The SimSiam view augmentation: each step against torchvision/PIL (what
the official code runs), the parameter distributions over thousands of
draws through the real sampling code, and the device-side batch version."""
import itertools
import math

import cv2
import mmcv
import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter
from scipy import stats

from simsiam_mm.datasets import (CIFAR_RECIPE, IMAGENET_MEAN, IMAGENET_STD,
                                 SampleKey, SimSiamDeviceAugPreprocessor,
                                 SimSiamViews, ViewParams, ViewRecipe,
                                 apply_view)
from simsiam_mm.datasets import device_aug as DA
from simsiam_mm.datasets import functional as VF
from simsiam_mm.datasets import sample_crop, sample_view_params
from simsiam_mm.registry import MODELS, TRANSFORMS


def colourful(height=96, width=128, seed=0):
    """Smooth saturated colours with some texture, uint8 RGB."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 2)
    return np.clip(img.astype(int) * 3 - 200, 0, 255).astype(np.uint8)


def diff(ours, ref):
    d = np.abs(np.asarray(ours, int) - np.asarray(ref, int))
    return d.mean(), d.max()


# ---------------------------------------------------------------- the ops

IMG = colourful()
PIL_IMG = Image.fromarray(IMG)


@pytest.mark.parametrize('factor', [0.6, 1.0, 1.4])
@pytest.mark.parametrize('name', ['brightness', 'contrast', 'saturation'])
def test_blend_ops_match_pil(name, factor):
    ours = getattr(VF, f'adjust_{name}')(IMG, factor)
    ref = getattr(TF, f'adjust_{name}')(PIL_IMG, factor)
    mean, worst = diff(ours, ref)
    # PIL truncates, we round: at most one level apart.
    assert worst <= 1 and mean < 0.5


@pytest.mark.parametrize('factor', [-0.5, -0.1, -0.03, 0.04, 0.1, 0.5])
def test_hue_matches_torchvision_including_negative_factors(factor):
    ours = VF.adjust_hue(IMG, factor)
    # torchvision's float path: exact hue rotation, no 8-bit HSV.
    ref = TF.adjust_hue(TF.to_tensor(PIL_IMG), factor)
    ref = (ref * 255).round().byte().permute(1, 2, 0).numpy()
    mean, worst = diff(ours, ref)
    assert mean < 1.0 and worst <= 8  # 8-bit HSV quantisation
    # and mmcv's (the mmpretrain pipeline's; BGR in, BGR out), which casts
    # the negative shift to uint8: fine under numpy 1.x only
    bgr = np.ascontiguousarray(IMG[..., ::-1])
    mean, _ = diff(ours, mmcv.adjust_hue(bgr, factor)[..., ::-1])
    assert mean < 1.5


@pytest.mark.parametrize('factor, expected', [(1 / 3, (0, 255, 0)),
                                              (-1 / 3, (0, 0, 255)),
                                              (-1 / 6, (255, 0, 255)),
                                              (0.5, (0, 255, 255))])
def test_hue_rotates_pure_red(factor, expected):
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    out = VF.adjust_hue(red, factor)
    np.testing.assert_allclose(out[0, 0], expected, atol=6)


def test_grayscale_is_pil_luma():
    ours = VF.to_grayscale(IMG)
    assert (ours[..., 0] == ours[..., 1]).all()
    assert (ours[..., 1] == ours[..., 2]).all()
    assert diff(ours, TF.rgb_to_grayscale(PIL_IMG, 3))[1] <= 1


@pytest.mark.parametrize('sigma', [0.1, 0.7, 1.3, 2.0])
def test_blur_matches_pil_gaussian_blur(sigma):
    ours = VF.gaussian_blur(IMG, sigma)
    ref = PIL_IMG.filter(ImageFilter.GaussianBlur(radius=sigma))
    mean, worst = diff(ours, ref)
    # PIL's three box passes vs the exact Gaussian
    assert mean < 1.0 and worst <= 10
    # and it does blur: the image loses high frequencies
    if sigma >= 1.3:
        assert np.abs(np.diff(ours.astype(int), axis=1)).mean() < 0.8 * \
            np.abs(np.diff(IMG.astype(int), axis=1)).mean()


def test_blur_kernel_covers_three_sigma():
    assert VF.blur_kernel_size(2.0) == 13
    assert VF.blur_kernel_size(0.1) == 3


@pytest.mark.parametrize('box', [(10, 20, 80, 100), (0, 0, 96, 128),
                                 (5, 7, 30, 40), (3, 0, 90, 20)])
@pytest.mark.parametrize('size', [32, 112])
def test_crop_resize_matches_pil_bilinear(box, size):
    ours = VF.crop_resize(IMG, box, size)
    ref = TF.resized_crop(PIL_IMG, *box, [size, size])
    assert ours.shape == (size, size, 3) and ours.flags.c_contiguous
    mean, worst = diff(ours, ref)
    assert worst <= 2 and mean < 0.3


def test_to_tensor_normalises_like_torchvision():
    ours = VF.to_tensor(IMG, IMAGENET_MEAN, IMAGENET_STD)
    ref = TF.normalize(
        TF.to_tensor(PIL_IMG), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert ours.dtype == torch.float32 and ours.shape == (3, 96, 128)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    raw = VF.to_tensor(IMG)
    assert raw.dtype == torch.uint8
    assert torch.equal(raw, torch.from_numpy(IMG).permute(2, 0, 1))


# ------------------------------------------ a whole view vs the reference


def reference_view(img: np.ndarray, p: ViewParams, size: int) -> np.ndarray:
    """The same draw through torchvision's functional ops on PIL."""
    view = TF.resized_crop(Image.fromarray(img), *p.crop, [size, size])
    fns = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation,
           TF.adjust_hue)
    if p.jitter:
        for index in p.order:
            view = fns[index](view, p.factors[index])
    if p.grayscale:
        view = TF.rgb_to_grayscale(view, 3)
    if p.blur_sigma is not None:
        view = view.filter(ImageFilter.GaussianBlur(radius=p.blur_sigma))
    if p.flip:
        view = TF.hflip(view)
    return np.asarray(view)


def test_views_match_torchvision_pil_for_the_same_draws():
    img = colourful(150, 200, seed=1)
    recipe = ViewRecipe(size=64, jitter_prob=1.0)
    generator = torch.Generator().manual_seed(0)
    errors = []
    for _ in range(40):
        params = sample_view_params(150, 200, recipe, generator)
        ours = apply_view(img, params, 64)
        errors.append(diff(ours, reference_view(img, params, 64))[0])
    # rounding and hue quantisation only: about one grey level on average
    assert np.mean(errors) < 1.5 and max(errors) < 4


def test_jitter_runs_in_the_drawn_order():
    img = colourful(64, 64, seed=2)
    base = dict(
        crop=(0, 0, 64, 64),
        jitter=True,
        grayscale=False,
        blur_sigma=None,
        flip=False,
        factors=(1.4, 0.6, 1.4, -0.1))
    outs = {
        order: apply_view(img, ViewParams(order=order, **base), 64)
        for order in [(0, 1, 2, 3), (3, 2, 1, 0)]
    }
    a, b = outs.values()
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1
    for order, out in outs.items():
        ref = reference_view(img, ViewParams(order=order, **base), 64)
        assert diff(out, ref)[0] < 1.5


# ---------------------------------------------- parameter distributions

N_DRAWS = 4000


def binomial_ok(hits, n, p):
    """Within 4.5 standard deviations of n * p."""
    return abs(hits - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))


@pytest.fixture(scope='module', params=['torch generator', 'sample keys'])
def recorded(request):
    """4000 views drawn through the transform itself (2 per image): from
    torch's generator, and from the keys of 2000 samples (what training
    with the configs' SeededSampler draws)."""
    torch.manual_seed(0)
    views = SimSiamViews(size=16, record_params=True)
    img = colourful(30, 40, seed=3)
    params, outputs = [], []
    for index in range(N_DRAWS // 2):
        key = None
        if request.param == 'sample keys':
            key = SampleKey(index, seed=0, epoch=1)
        out = views(dict(img=img, sample_idx=key))
        params.extend(out['view_params'])
        outputs.extend(out['img'])
    return img, params, outputs


def test_probabilities_of_each_step(recorded):
    _, params, _ = recorded
    n = len(params)
    assert n == N_DRAWS
    assert binomial_ok(sum(p.jitter for p in params), n, 0.8)
    assert binomial_ok(sum(p.grayscale for p in params), n, 0.2)
    assert binomial_ok(sum(p.blur_sigma is not None for p in params), n, 0.5)
    assert binomial_ok(sum(p.flip for p in params), n, 0.5)


def test_grayscale_param_matches_the_output(recorded):
    _, params, outputs = recorded
    for p, view in zip(params, outputs):
        equal = bool((view[0] == view[1]).all() and (view[1] == view[2]).all())
        assert equal == p.grayscale


def test_factor_and_sigma_distributions(recorded):
    _, params, _ = recorded
    factors = np.array([p.factors for p in params])
    ranges = [(0.6, 1.4)] * 3 + [(-0.1, 0.1)]
    for column, (lo, hi) in zip(factors.T, ranges):
        assert column.min() >= lo and column.max() <= hi
        assert stats.kstest(column, stats.uniform(lo, hi - lo).cdf).pvalue \
            > 1e-3
    sigmas = np.array([p.blur_sigma for p in params if p.blur_sigma])
    assert stats.kstest(sigmas, stats.uniform(0.1, 1.9).cdf).pvalue > 1e-3


def test_jitter_order_is_a_uniform_permutation(recorded):
    _, params, _ = recorded
    perms = list(itertools.permutations(range(4)))
    counts = [sum(p.order == perm for p in params) for perm in perms]
    assert sum(counts) == N_DRAWS
    assert stats.chisquare(counts).pvalue > 1e-3


def test_crop_area_and_aspect_match_torchvision(recorded):
    img, params, _ = recorded
    height, width = img.shape[:2]
    ours = np.array([p.crop for p in params], float)
    torch.manual_seed(1)
    tv = np.array([
        T.RandomResizedCrop.get_params(
            torch.empty(3, height, width), [0.2, 1.0], [3 / 4, 4 / 3])
        for _ in range(N_DRAWS)
    ], float)
    for crops in (ours, tv):
        area = crops[:, 2] * crops[:, 3] / (height * width)
        assert area.max() <= 1.0 and area.min() > 0.18  # rounding of w, h
    area = [c[:, 2] * c[:, 3] / (height * width) for c in (ours, tv)]
    aspect = [c[:, 3] / c[:, 2] for c in (ours, tv)]
    top = [c[:, 0] for c in (ours, tv)]
    for a, b in (area, aspect, top):
        assert stats.ks_2samp(a, b).pvalue > 1e-3
    # the crops inside the image
    assert (ours[:, 0] + ours[:, 2] <= height).all()
    assert (ours[:, 1] + ours[:, 3] <= width).all()


def test_crop_falls_back_to_a_centred_crop_on_extreme_images():
    # 10 x 400: no 3/4..4/3 crop of >= 20 % area fits, so the fallback.
    generator = torch.Generator().manual_seed(0)
    crops = {sample_crop(10, 400, generator=generator) for _ in range(50)}
    assert crops == {(0, 193, 10, 13)}


def test_area_fraction_follows_the_scale_range_on_a_large_image():
    # With room for every crop, the area fraction is ~U[0.2, 1].
    generator = torch.Generator().manual_seed(0)
    area = [
        h * w / 1e6
        for _, _, h, w in (sample_crop(1000, 1000, generator=generator)
                           for _ in range(N_DRAWS))
    ]
    # most draws fit at once; a few retries bias towards small areas
    assert np.quantile(area, 0.5) == pytest.approx(0.55, abs=0.04)
    assert min(area) > 0.19 and max(area) <= 1.0


# -------------------------------------------------- the transform itself


def test_two_views_differ_and_are_independent():
    torch.manual_seed(0)
    out = SimSiamViews(record_params=True)(dict(img=colourful(200, 300)))
    v1, v2 = out['img']
    assert v1.shape == v2.shape == (3, 224, 224) and v1.dtype == torch.uint8
    assert not torch.equal(v1, v2)
    assert out['view_params'][0] != out['view_params'][1]
    assert out['img_shape'] == (224, 224)


def test_normalised_output_is_uint8_output_standardised():
    img = colourful(60, 80)
    torch.manual_seed(5)
    raw = SimSiamViews(size=32)(dict(img=img))['img']
    torch.manual_seed(5)
    normed = SimSiamViews(size=32, normalize=True)(dict(img=img))['img']
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    for r, n in zip(raw, normed):
        assert n.dtype == torch.float32
        torch.testing.assert_close(n, (r.float() - mean) / std)


def test_mean_coloured_image_normalises_to_zero():
    img = np.empty((40, 40, 3), np.uint8)
    img[:] = np.round(IMAGENET_MEAN).astype(np.uint8)
    views = SimSiamViews(size=16, normalize=True, jitter_prob=0., gray_prob=0.)
    for view in views(dict(img=img))['img']:
        assert view.abs().max() < 0.01


def test_same_torch_seed_same_views():
    img = colourful(50, 70)
    views = SimSiamViews(size=24)
    torch.manual_seed(3)
    first = views(dict(img=img))['img']
    torch.manual_seed(3)
    again = views(dict(img=img))['img']
    other = views(dict(img=img))['img']
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], other[0])


class _SameImage(torch.utils.data.Dataset):

    def __init__(self):
        self.views = SimSiamViews(size=16, record_params=True)
        self.img = colourful(40, 40)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.views(dict(img=self.img))['view_params'][0].crop


def test_dataloader_workers_draw_different_views():
    loader = torch.utils.data.DataLoader(
        _SameImage(), batch_size=None, num_workers=2)
    crops = [tuple(c) for c in loader]
    # worker 0 serves 0, 2, 4, 6; worker 1 serves 1, 3, 5, 7
    assert crops[0::2] != crops[1::2]
    assert len(set(crops)) > 4


def test_flip_param_mirrors_the_view():
    img = colourful(32, 32, seed=4)
    views = SimSiamViews(
        size=32,
        scale=(1., 1.),
        ratio=(1., 1.),
        jitter_prob=0.,
        gray_prob=0.,
        blur_prob=0.,
        record_params=True)
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        out = views(dict(img=img))
        for p, view in zip(out['view_params'], out['img']):
            expected = img[:, ::-1] if p.flip else img
            assert torch.equal(
                view,
                torch.from_numpy(np.ascontiguousarray(expected)).permute(
                    2, 0, 1))
            seen.add(p.flip)
    assert seen == {True, False}


def test_negative_hue_through_the_transform():
    img = colourful(48, 48, seed=5)
    views = SimSiamViews(
        size=48,
        scale=(1., 1.),
        ratio=(1., 1.),
        jitter_prob=1.,
        brightness=0.,
        contrast=0.,
        saturation=0.,
        hue=0.5,
        gray_prob=0.,
        blur_prob=0.,
        flip_prob=0.,
        record_params=True)
    torch.manual_seed(0)
    negatives = 0
    for _ in range(10):
        out = views(dict(img=img))
        for p, view in zip(out['view_params'], out['img']):
            hue = p.factors[3]
            negatives += hue < 0
            ref = TF.adjust_hue(TF.to_tensor(img), hue)
            ref = (ref * 255).round().byte()
            assert diff(view.numpy(), ref.numpy())[0] < 1.0
    assert negatives >= 3


def test_grey_input_is_expanded_and_bad_input_rejected():
    views = SimSiamViews(size=8)
    out = views(dict(img=np.full((12, 12), 7, np.uint8)))
    assert out['img'][0].shape == (3, 8, 8)
    with pytest.raises(TypeError, match='uint8'):
        views(dict(img=np.zeros((12, 12, 3), np.float32)))
    with pytest.raises(ValueError, match='H x W x 3'):
        views(dict(img=np.zeros((12, 12, 4), np.uint8)))


def test_built_from_a_config_dict_in_the_scope():
    views = TRANSFORMS.build(
        dict(type='SimSiamViews', size=32, scale=[0.2, 1.0], blur_prob=0.))
    assert isinstance(views, SimSiamViews)
    assert views.recipe == CIFAR_RECIPE
    with pytest.raises(ValueError, match='hue'):
        SimSiamViews(hue=0.7)
    with pytest.raises(ValueError, match='scale'):
        SimSiamViews(scale=(0.5, 0.2))


# ------------------------------------------------ device-side batch views


def test_batch_ops_match_torchvision_per_sample():
    x = torch.from_numpy(np.stack([colourful(24, 24, s)
                                   for s in range(3)])).permute(0, 3, 1, 2)
    x = x.float() / 255
    factors = torch.tensor([0.6, 1.0, 1.4])
    hues = torch.tensor([-0.5, -0.07, 0.1])
    pairs = [(DA.adjust_brightness, TF.adjust_brightness, factors),
             (DA.adjust_contrast, TF.adjust_contrast, factors),
             (DA.adjust_saturation, TF.adjust_saturation, factors),
             (DA.adjust_hue, TF.adjust_hue, hues)]
    for ours, ref, values in pairs:
        out = ours(x.clone(), values)
        for i, value in enumerate(values.tolist()):
            torch.testing.assert_close(
                out[i], ref(x[i], value), atol=1e-4, rtol=0)


def test_hsv_round_trip():
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(DA.hsv_to_rgb(DA.rgb_to_hsv(x)), x)


def test_batch_blur_matches_opencv_per_sample():
    imgs = np.stack([colourful(32, 32, s) for s in range(2)])
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float()
    sigma = torch.tensor([0.5, 2.0])
    out = DA.gaussian_blur(x, sigma, 13)
    for i, s in enumerate(sigma.tolist()):
        ref = cv2.GaussianBlur(
            imgs[i].astype(np.float32), (13, 13),
            s,
            borderType=cv2.BORDER_REPLICATE)
        torch.testing.assert_close(
            out[i].permute(1, 2, 0), torch.from_numpy(ref), atol=1e-3, rtol=0)


def test_batch_params_match_the_cpu_distribution():
    torch.manual_seed(0)
    recipe = ViewRecipe()
    h = torch.full((N_DRAWS, ), 30.)
    w = torch.full((N_DRAWS, ), 40.)
    p = DA.sample_batch_params(recipe, h, w)
    n = N_DRAWS
    assert binomial_ok(int(p['jitter'].sum()), n, 0.8)
    assert binomial_ok(int(p['grayscale'].sum()), n, 0.2)
    assert binomial_ok(int(p['blur'].sum()), n, 0.5)
    assert binomial_ok(int(p['flip'].sum()), n, 0.5)
    crop = p['crop'].numpy()
    assert (crop[:, 0] + crop[:, 2] <= 30).all()
    assert (crop[:, 1] + crop[:, 3] <= 40).all()
    generator = torch.Generator().manual_seed(1)
    cpu = np.array(
        [sample_crop(30, 40, generator=generator) for _ in range(N_DRAWS)],
        float)
    for column in range(4):
        assert stats.ks_2samp(crop[:, column], cpu[:, column]).pvalue > 1e-3
    perms = p['order'].tolist()
    counts = [perms.count(list(q)) for q in itertools.permutations(range(4))]
    assert stats.chisquare(counts).pvalue > 1e-3
    lo, hi = p['factors'].min(0).values, p['factors'].max(0).values
    assert lo[0] >= 0.6 and hi[0] <= 1.4 and lo[3] >= -0.1 and hi[3] <= 0.1


def _device_preprocessor_and_images(blur_prob):
    pre = MODELS.build(
        dict(
            type='SimSiamDeviceAugPreprocessor', size=32, blur_prob=blur_prob))
    imgs = [
        torch.from_numpy(colourful(40, 48, s)).permute(2, 0, 1)
        for s in range(4)
    ]
    return pre, imgs


def test_device_preprocessor_views():
    pre, imgs = _device_preprocessor_and_images(blur_prob=0.)
    torch.manual_seed(0)
    out = pre(dict(inputs=imgs, data_samples=None), training=True)
    v1, v2 = out['inputs']
    assert v1.shape == v2.shape == (4, 3, 32, 32)
    assert v1.dtype == torch.float32
    assert not torch.allclose(v1, v2)
    # not training: the normalised images, one batch
    plain = pre(dict(inputs=imgs), training=False)['inputs']
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(plain, (torch.stack(imgs).float() - mean) / std)
    with pytest.raises(TypeError, match='uint8'):
        pre(dict(inputs=torch.zeros(1, 3, 8, 8)), training=True)


@pytest.mark.parametrize('gpu_present', [False, True])
def test_device_preprocessor_under_bf16_autocast(gpu_present, monkeypatch):
    """mmengine runs the data preprocessor inside AMP autocast (--amp).

    With ``gpu_present`` a CPU run happens on a machine that has a GPU:
    the CPU autocast must still be the one turned off."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: gpu_present)
    pre, imgs = _device_preprocessor_and_images(blur_prob=0.5)
    torch.manual_seed(0)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        views = pre(dict(inputs=imgs), training=True)['inputs']
    torch.manual_seed(0)
    reference = pre(dict(inputs=imgs), training=True)['inputs']
    for got, want in zip(views, reference):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want)


def test_device_identity_recipe_reproduces_the_image():
    pre = SimSiamDeviceAugPreprocessor(
        size=24,
        scale=(1., 1.),
        ratio=(1., 1.),
        jitter_prob=0.,
        gray_prob=0.,
        blur_prob=0.,
        flip_prob=0.)
    img = torch.from_numpy(colourful(24, 24)).permute(2, 0, 1)
    view = pre(dict(inputs=[img]), training=True)['inputs'][0]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(
        view * std + mean, img[None].float(), atol=1e-3, rtol=0)
    bgr = SimSiamDeviceAugPreprocessor(
        size=24,
        scale=(1., 1.),
        ratio=(1., 1.),
        jitter_prob=0.,
        gray_prob=0.,
        blur_prob=0.,
        flip_prob=0.,
        to_rgb=True)
    flipped = bgr(dict(inputs=[img.flip(0)]), training=True)['inputs'][0]
    torch.testing.assert_close(flipped, view)


def test_device_crops_are_drawn_in_original_coordinates():

    class Sample:
        ori_shape = (300, 120)  # the image was resized to 30 x 30

    pre = SimSiamDeviceAugPreprocessor(size=8, blur_prob=0.)
    imgs = torch.zeros(64, 3, 30, 30, dtype=torch.uint8)
    torch.manual_seed(0)
    _, drawn = pre.augment(
        imgs.float() / 255, [Sample()] * 64, return_params=True)
    crop = drawn[0]['crop']
    aspect = crop[:, 3] / crop[:, 2]
    # a 300 x 120 image is taller than 3/4: every crop in range, many tall
    assert (crop[:, 2] > 30).all()
    assert aspect.min() >= 0.74 and aspect.max() <= 4 / 3 + 0.02
    shape, scale = pre._source_shapes(imgs, [Sample()] * 64)
    torch.testing.assert_close(scale[0], torch.tensor([0.1, 0.25]))
