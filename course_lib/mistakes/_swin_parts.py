"""Chapter 8's pieces done right, re-implemented privately for the mistakes of
``ch08_swin_transformer`` (course_lib's references are locked while a student's code runs).
Each takes switches that turn one step into a common mistake."""

import torch
import torch.nn.functional as F


def _partition(x, M, column_major=False, permute=True):
    B, H, W, C = x.shape
    x = x.view(B, H // M, M, W // M, M, C)
    if not permute:
        return x.reshape(-1, M * M, C)
    order = (0, 3, 1, 2, 4, 5) if column_major else (0, 1, 3, 2, 4, 5)
    return x.permute(*order).reshape(-1, M * M, C)


def _reverse(windows, M, H, W):
    C = windows.shape[-1]
    B = windows.shape[0] // ((H // M) * (W // M))
    return windows.view(B, H // M, W // M, M, M, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)


def _index(M, offset=None, stride=None, sign=1):
    coords = torch.stack(torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")).flatten(1)
    rel = sign * (coords[:, :, None] - coords[:, None, :]) + (M - 1 if offset is None else offset)
    return rel[0] * (2 * M - 1 if stride is None else stride) + rel[1]


def _attend(
    windows,
    qkv_w,
    qkv_b,
    proj_w,
    proj_b,
    bias,
    h,
    mask=None,
    *,
    scale_by_width=False,
    transpose_bias=False,
    use_bias=True,
    merge_transposed=True,
):
    Bw, N, C = windows.shape
    q, k, v = F.linear(windows, qkv_w, qkv_b).reshape(Bw, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
    attn = (q * (C if scale_by_width else C // h) ** -0.5) @ k.transpose(-2, -1)
    if use_bias:
        attn = attn + (bias.transpose(-2, -1) if transpose_bias else bias)
    if mask is not None:
        nW = mask.shape[0]
        attn = (attn.view(Bw // nW, nW, h, N, N) + mask[None, :, None]).view(Bw, h, N, N)
    out = attn.softmax(-1) @ v  # (Bw, h, N, d)
    out = out.transpose(1, 2).reshape(Bw, N, C) if merge_transposed else out.reshape(Bw, N, C)
    return F.linear(out, proj_w, proj_b)


def _region_mask(H, W, M, s, device=None, bands=None, inverted=False, windowed=True):
    regions = torch.zeros(H, W, device=device)
    bands = bands or (slice(0, -M), slice(-M, -s), slice(-s, None))
    count = 0
    for rows in bands:
        for cols in bands:
            regions[rows, cols] = count
            count += 1
    regions = regions.view(H // M, M, W // M, M)
    regions = (regions.permute(0, 2, 1, 3) if windowed else regions).reshape(-1, M * M)
    same = regions.unsqueeze(1) == regions.unsqueeze(2)
    return torch.where(same ^ inverted, 0.0, -100.0).to(regions.dtype)


def _swa(
    x,
    qkv_weight,
    qkv_bias,
    proj_weight,
    proj_bias,
    bias_table,
    window_size,
    n_heads,
    shift,
    before=-1,
    after=1,
    use_mask=True,
):
    B, H, W, C = x.shape
    M = window_size
    if shift and before:
        x = torch.roll(x, shifts=(before * shift, before * shift), dims=(1, 2))
    bias = bias_table[_index(M).flatten().to(x.device)].view(M * M, M * M, -1).permute(2, 0, 1)
    mask = _region_mask(H, W, M, shift, x.device) if shift and use_mask else None
    out = _attend(_partition(x, M), qkv_weight, qkv_bias, proj_weight, proj_bias, bias, n_heads, mask)
    out = _reverse(out, M, H, W)
    if shift and after:
        out = torch.roll(out, shifts=(after * shift, after * shift), dims=(1, 2))
    return out


def _merge(x, order, norm_weight, norm_bias, reduction_weight, norm_first=True):
    parts = {"tl": x[:, 0::2, 0::2], "bl": x[:, 1::2, 0::2], "tr": x[:, 0::2, 1::2], "br": x[:, 1::2, 1::2]}
    x = torch.cat([parts[k] for k in order], dim=-1)
    if norm_first:
        return F.linear(F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias), reduction_weight)
    x = F.linear(x, reduction_weight)
    return F.layer_norm(x, (x.shape[-1],), norm_weight[: x.shape[-1]], norm_bias[: x.shape[-1]])


def window_attention_with(**wrong):
    """A window_attention with the exercise's signature that passes ``wrong`` switches to _attend."""

    def window_attention(windows, qkv_weight, qkv_bias, proj_weight, proj_bias, relative_bias, n_heads, mask=None):
        return _attend(windows, qkv_weight, qkv_bias, proj_weight, proj_bias, relative_bias, n_heads, mask, **wrong)

    return window_attention


def shifted_window_attention_with(**wrong):
    """A shifted_window_attention with the exercise's signature that passes ``wrong`` switches to _swa."""

    def shifted_window_attention(
        x, qkv_weight, qkv_bias, proj_weight, proj_bias, bias_table, window_size, n_heads, shift=0
    ):
        return _swa(x, qkv_weight, qkv_bias, proj_weight, proj_bias, bias_table, window_size, n_heads, shift, **wrong)

    return shifted_window_attention
