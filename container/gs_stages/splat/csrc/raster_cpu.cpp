// Tile-based CPU rasterizer for Gaussian splats: forward compositing and its analytic backward pass.
//
// Why hand-written: gsplat's rasterizer is CUDA only and no maintained library offers a CPU one with a
// backward pass, while the pure-PyTorch reference (render_torch.py) spends most of a step building and
// differentiating per-pair tensors. This file computes the same image as that reference (and gsplat's
// "classic" mode): front-to-back blending of depth-sorted Gaussians, alpha = min(0.999, o exp(-sigma)),
// pairs with alpha < 1/255 or sigma < 0 skipped, a pixel stopping before the Gaussian that would bring its
// transmittance to <= 1e-4. Each Gaussian is only tested against the pixels of its own box (the ellipse
// where alpha >= 1/255, rounded up; `lo`/`hi` from Python) inside each 16x16 tile it touches, and within
// the box, per row, only against the ellipse's chord (`row_span`). Transmittance, colours and gradients
// are float, as in gsplat's CUDA kernel, and the per-pixel loops are branch-free so g++ vectorizes them
// (a 16-pixel tile row is one AVX-512 vector); tests/stages/test_render_cpu.py bounds the difference
// from the float64 reference.
//
// Inputs are the visible Gaussians already sorted front to back. Tiles run in parallel (OpenMP, dynamic
// schedule); the backward pass writes each (tile, Gaussian) gradient into its own slot and sums the slots
// per Gaussian in a fixed order, so results do not depend on the thread count or scheduling.
#include <torch/extension.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int kTile = 16;
constexpr float kMinAlpha = 1.0f / 255.0f;
constexpr float kMaxAlpha = 0.999f;
constexpr float kMinTransmittance = 1e-4f;
constexpr int kSlot = 11;  // per (tile, Gaussian) gradient: mean 2, conic 3, opacity 1, colour 3, |mean| 2

struct Bins {
  int tiles_x, tiles_y;
  std::vector<int64_t> offsets;  // (tiles + 1), start of each tile's list in ids
  std::vector<int32_t> ids;      // Gaussian index per (tile, Gaussian) instance, front to back per tile
};

// Lists, per tile, the Gaussians whose pixel box overlaps it, in input (depth) order.
Bins bin_gaussians(const int32_t* lo, const int32_t* hi, int64_t n, int width, int height) {
  Bins bins;
  bins.tiles_x = (width + kTile - 1) / kTile;
  bins.tiles_y = (height + kTile - 1) / kTile;
  const int64_t tiles = int64_t(bins.tiles_x) * bins.tiles_y;
  std::vector<int64_t> counts(tiles + 1, 0);
  auto tile_range = [&](int64_t g, int& x0, int& x1, int& y0, int& y1) {
    x0 = lo[2 * g] / kTile;
    y0 = lo[2 * g + 1] / kTile;
    x1 = hi[2 * g] > lo[2 * g] ? (hi[2 * g] - 1) / kTile + 1 : x0;
    y1 = hi[2 * g + 1] > lo[2 * g + 1] ? (hi[2 * g + 1] - 1) / kTile + 1 : y0;
  };
  for (int64_t g = 0; g < n; ++g) {
    int x0, x1, y0, y1;
    tile_range(g, x0, x1, y0, y1);
    for (int ty = y0; ty < y1; ++ty)
      for (int tx = x0; tx < x1; ++tx) ++counts[int64_t(ty) * bins.tiles_x + tx + 1];
  }
  for (int64_t t = 0; t < tiles; ++t) counts[t + 1] += counts[t];
  bins.offsets = counts;
  bins.ids.resize(counts[tiles]);
  std::vector<int64_t> fill(counts.begin(), counts.end() - 1);
  for (int64_t g = 0; g < n; ++g) {
    int x0, x1, y0, y1;
    tile_range(g, x0, x1, y0, y1);
    for (int ty = y0; ty < y1; ++ty)
      for (int tx = x0; tx < x1; ++tx) bins.ids[fill[int64_t(ty) * bins.tiles_x + tx]++] = int32_t(g);
  }
  return bins;
}

struct Gaussian {
  float mx, my, a, b, c, o;
};

// alpha of Gaussian `s` at pixels x0..x1-1 of row y, 0 where the pair is skipped (sigma < 0 or alpha < 1/255);
// `vis` gets exp(-sigma). Branch-free, so the compiler vectorizes it (exp included, with -ffast-math).
inline void alpha_row(const Gaussian& s, int x0, int x1, int y, float* alpha, float* vis) {
  const float dy = s.my - (float(y) + 0.5f);
  for (int x = x0; x < x1; ++x) {
    const float dx = s.mx - (float(x) + 0.5f);
    const float sigma = 0.5f * (s.a * dx * dx + s.c * dy * dy) + s.b * dx * dy;
    const float v = std::exp(-sigma);
    const float a = std::min(kMaxAlpha, s.o * v);
    alpha[x - x0] = (sigma >= 0.0f && a >= kMinAlpha) ? a : 0.0f;
    vis[x - x0] = v;
  }
}

inline Gaussian load(const float* means, const float* conics, const float* opac, int64_t g) {
  return {means[2 * g], means[2 * g + 1], conics[3 * g], conics[3 * g + 1], conics[3 * g + 2], opac[g]};
}

// Columns [*x0, *x1) of row y, inside [lo, hi), where Gaussian `s` can reach alpha >= 1/255: the row's chord
// of the ellipse sigma <= log(255 o), widened by a pixel on each side so rounding never drops a pixel that
// the per-pixel test would keep. The ellipse fills pi/4 of its box at best, and far less when tilted.
inline void row_span(const Gaussian& s, float log_255o, int y, int lo, int hi, int* x0, int* x1) {
  const float dy = s.my - (float(y) + 0.5f);
  const float disc = (s.b * s.b - s.a * s.c) * dy * dy + 2.0f * s.a * log_255o;
  if (!(s.a > 0.0f)) {  // not positive definite (cannot happen after projection): test the whole box
    *x0 = lo, *x1 = hi;
    return;
  }
  if (disc < 0.0f || log_255o < 0.0f) {
    *x0 = *x1 = lo;
    return;
  }
  const float root = std::sqrt(disc), centre = s.mx - 0.5f + s.b * dy / s.a;  // x + 0.5 = mx - dx
  const float first = std::floor(centre - root / s.a) - 1.0f, last = std::ceil(centre + root / s.a) + 2.0f;
  *x0 = first <= float(lo) ? lo : (first >= float(hi) ? hi : int(first));
  *x1 = last >= float(hi) ? hi : (last <= float(*x0) ? *x0 : int(last));
}

}  // namespace

// Returns rgb (H*W, 3), acc (H*W), and what backward needs: final transmittance (H*W, float64), the
// per-pixel stop position in its tile's list (H*W, int32), the tile offsets and the tile lists.
std::vector<torch::Tensor> forward(torch::Tensor means2d, torch::Tensor conics, torch::Tensor opacities,
                                   torch::Tensor colors, torch::Tensor lo, torch::Tensor hi, int64_t width,
                                   int64_t height) {
  TORCH_CHECK(colors.size(1) == 3, "colours must be (N, 3)");
  const int64_t n = means2d.size(0), pixels = width * height;
  const float* mean = means2d.data_ptr<float>();
  const float* conic = conics.data_ptr<float>();
  const float* opac = opacities.data_ptr<float>();
  const float* col = colors.data_ptr<float>();
  Bins bins = bin_gaussians(lo.data_ptr<int32_t>(), hi.data_ptr<int32_t>(), n, int(width), int(height));
  const int32_t* box_lo = lo.data_ptr<int32_t>();
  const int32_t* box_hi = hi.data_ptr<int32_t>();

  auto rgb = torch::zeros({pixels, 3}, means2d.options());
  auto acc = torch::zeros({pixels}, means2d.options());
  auto final_t = torch::ones({pixels}, means2d.options().dtype(torch::kFloat64));
  auto stop = torch::zeros({pixels}, means2d.options().dtype(torch::kInt32));
  float* out_rgb = rgb.data_ptr<float>();
  float* out_acc = acc.data_ptr<float>();
  double* out_t = final_t.data_ptr<double>();
  int32_t* out_stop = stop.data_ptr<int32_t>();
  const int64_t tiles = int64_t(bins.tiles_x) * bins.tiles_y;

#pragma omp parallel for schedule(dynamic, 1) num_threads(at::get_num_threads())
  for (int64_t t = 0; t < tiles; ++t) {
    const int x0 = int(t % bins.tiles_x) * kTile, y0 = int(t / bins.tiles_x) * kTile;
    const int x1 = std::min<int>(x0 + kTile, int(width)), y1 = std::min<int>(y0 + kTile, int(height));
    const int64_t begin = bins.offsets[t], end = bins.offsets[t + 1];
    float T[kTile * kTile];  // float, as gsplat's CUDA kernel: the loop below vectorizes
    float R[kTile * kTile], G[kTile * kTile], B[kTile * kTile];
    int32_t stop_at[kTile * kTile];
    const int32_t running = int32_t(end - begin);  // stop_at of a pixel still blending
    for (int p = 0; p < kTile * kTile; ++p) {
      T[p] = 1.0f;
      R[p] = G[p] = B[p] = 0.0f;
      stop_at[p] = running;
    }
    const int live_pixels = (x1 - x0) * (y1 - y0);
    int finished = 0;
    for (int64_t k = begin; k < end && finished < live_pixels; ++k) {
      const int64_t g = bins.ids[k];
      const int32_t local = int32_t(k - begin);
      const Gaussian s = load(mean, conic, opac, g);
      const float log_255o = std::log(255.0f * s.o);
      const int bx0 = std::max(x0, box_lo[2 * g]), bx1 = std::min(x1, box_hi[2 * g]);
      const int gy0 = std::max(y0, box_lo[2 * g + 1]), gy1 = std::min(y1, box_hi[2 * g + 1]);
      const float cr = col[3 * g], cg = col[3 * g + 1], cb = col[3 * g + 2];
      float alphas[kTile], vis[kTile];
      for (int y = gy0; y < gy1; ++y) {
        int gx0, gx1;
        row_span(s, log_255o, y, bx0, bx1, &gx0, &gx1);
        if (gx0 >= gx1) continue;
        alpha_row(s, gx0, gx1, y, alphas, vis);
        const int row = (y - y0) * kTile - x0;
        for (int x = gx0; x < gx1; ++x) {  // branch-free, so it vectorizes
          const int p = row + x;
          const float alpha = alphas[x - gx0];
          const bool live = (alpha > 0.0f) & (stop_at[p] == running);
          const float next_t = T[p] * (1.0f - alpha);
          const bool ending = live & (next_t <= kMinTransmittance);
          const bool blend = live & (next_t > kMinTransmittance);
          const float w = blend ? alpha * T[p] : 0.0f;
          R[p] += w * cr;
          G[p] += w * cg;
          B[p] += w * cb;
          T[p] = blend ? next_t : T[p];
          stop_at[p] = ending ? local : stop_at[p];
        }
        for (int x = gx0; x < gx1; ++x) finished += stop_at[row + x] == local;  // apart, so both loops vectorize
      }
    }
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const int p = (y - y0) * kTile + (x - x0);
        const int64_t pix = int64_t(y) * width + x;
        out_rgb[3 * pix] = R[p];
        out_rgb[3 * pix + 1] = G[p];
        out_rgb[3 * pix + 2] = B[p];
        out_acc[pix] = 1.0f - T[p];
        out_t[pix] = T[p];
        out_stop[pix] = stop_at[p];
      }
    }
  }
  auto offsets = torch::from_blob(bins.offsets.data(), {int64_t(bins.offsets.size())}, torch::kInt64).clone();
  auto ids = torch::from_blob(bins.ids.data(), {int64_t(bins.ids.size())}, torch::kInt32).clone();
  return {rgb, acc, final_t, stop, offsets, ids};
}

// Gradients for means2d (N, 2), conics (N, 3), opacities (N), colours (N, 3), and the sum over pixels of
// |dL/dmean2d| per Gaussian (N, 2, AbsGS), from the upstream gradients of rgb (H*W, 3) and acc (H*W).
std::vector<torch::Tensor> backward(torch::Tensor means2d, torch::Tensor conics, torch::Tensor opacities,
                                    torch::Tensor colors, torch::Tensor lo, torch::Tensor hi, int64_t width,
                                    int64_t height, torch::Tensor final_t, torch::Tensor stop,
                                    torch::Tensor offsets, torch::Tensor ids, torch::Tensor grad_rgb,
                                    torch::Tensor grad_acc) {
  const int64_t n = means2d.size(0);
  const float* mean = means2d.data_ptr<float>();
  const float* conic = conics.data_ptr<float>();
  const float* opac = opacities.data_ptr<float>();
  const float* col = colors.data_ptr<float>();
  const int32_t* box_lo = lo.data_ptr<int32_t>();
  const int32_t* box_hi = hi.data_ptr<int32_t>();
  const double* in_t = final_t.data_ptr<double>();
  const int32_t* in_stop = stop.data_ptr<int32_t>();
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int32_t* list = ids.data_ptr<int32_t>();
  const float* g_rgb = grad_rgb.data_ptr<float>();
  const float* g_acc = grad_acc.data_ptr<float>();
  const int tiles_x = int((width + kTile - 1) / kTile);
  const int64_t tiles = offsets.size(0) - 1, instances = ids.size(0);
  std::vector<float> slots(size_t(instances) * kSlot, 0.0f);

#pragma omp parallel for schedule(dynamic, 1) num_threads(at::get_num_threads())
  for (int64_t t = 0; t < tiles; ++t) {
    const int x0 = int(t % tiles_x) * kTile, y0 = int(t / tiles_x) * kTile;
    const int x1 = std::min<int>(x0 + kTile, int(width)), y1 = std::min<int>(y0 + kTile, int(height));
    const int64_t begin = off[t], end = off[t + 1];
    if (begin == end) continue;
    // Per pixel, structure of arrays: transmittance, upstream gradient (rgb, acc), colour and weight
    // blended behind the current Gaussian. Float, as gsplat's CUDA kernel (the tests bound the difference).
    float T[kTile * kTile], G0[kTile * kTile], G1[kTile * kTile], G2[kTile * kTile], G3[kTile * kTile];
    float S0[kTile * kTile], S1[kTile * kTile], S2[kTile * kTile], S3[kTile * kTile];
    int32_t stop_at[kTile * kTile];
    for (int p = 0; p < kTile * kTile; ++p) {
      T[p] = 1.0f, stop_at[p] = 0;
      G0[p] = G1[p] = G2[p] = G3[p] = S0[p] = S1[p] = S2[p] = S3[p] = 0.0f;
    }
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        const int p = (y - y0) * kTile + (x - x0);
        const int64_t pix = int64_t(y) * width + x;
        T[p] = float(in_t[pix]);
        stop_at[p] = in_stop[pix];
        G0[p] = g_rgb[3 * pix], G1[p] = g_rgb[3 * pix + 1], G2[p] = g_rgb[3 * pix + 2], G3[p] = g_acc[pix];
      }
    }
    for (int64_t k = end - 1; k >= begin; --k) {
      const int64_t g = list[k];
      const int32_t local = int32_t(k - begin);
      const Gaussian s = load(mean, conic, opac, g);
      const float log_255o = std::log(255.0f * s.o);
      const int bx0 = std::max(x0, box_lo[2 * g]), bx1 = std::min(x1, box_hi[2 * g]);
      const int gy0 = std::max(y0, box_lo[2 * g + 1]), gy1 = std::min(y1, box_hi[2 * g + 1]);
      const float cr = col[3 * g], cg = col[3 * g + 1], cb = col[3 * g + 2];
      float acc[kSlot] = {0.0f};
      float alphas[kTile], vis[kTile];
      for (int y = gy0; y < gy1; ++y) {
        int gx0, gx1;
        row_span(s, log_255o, y, bx0, bx1, &gx0, &gx1);
        if (gx0 >= gx1) continue;
        alpha_row(s, gx0, gx1, y, alphas, vis);
        const float dy = s.my - (float(y) + 0.5f);
        const int row = (y - y0) * kTile - x0;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0;
        for (int x = gx0; x < gx1; ++x) {  // branch-free, so it vectorizes
          const int p = row + x;
          const float alpha = alphas[x - gx0];
          const bool use = alpha > 0.0f && local < stop_at[p];
          const float dx = s.mx - (float(x) + 0.5f);
          const float v = vis[x - gx0];
          const float one_minus = 1.0f - alpha;
          const float t_i = T[p] / one_minus;
          const float w = use ? alpha * t_i : 0.0f;
          const float front = G0[p] * cr + G1[p] * cg + G2[p] * cb + G3[p];
          const float behind = G0[p] * S0[p] + G1[p] * S1[p] + G2[p] * S2[p] + G3[p] * S3[p];
          const float d_alpha = (!use || s.o * v > kMaxAlpha) ? 0.0f : t_i * front - behind / one_minus;
          const float d_sigma = -s.o * v * d_alpha;
          const float gmx = d_sigma * (s.a * dx + s.b * dy), gmy = d_sigma * (s.c * dy + s.b * dx);
          a0 += gmx;
          a1 += gmy;
          a2 += d_sigma * 0.5f * dx * dx;
          a3 += d_sigma * dx * dy;
          a4 += d_sigma * 0.5f * dy * dy;
          a5 += v * d_alpha;
          a6 += w * G0[p];
          a7 += w * G1[p];
          a8 += w * G2[p];
          a9 += std::abs(gmx);
          a10 += std::abs(gmy);
          S0[p] += w * cr;
          S1[p] += w * cg;
          S2[p] += w * cb;
          S3[p] += w;
          T[p] = use ? t_i : T[p];
        }
        const float row_acc[kSlot] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10};
        for (int i = 0; i < kSlot; ++i) acc[i] += row_acc[i];
      }
      float* slot = &slots[size_t(k) * kSlot];
      for (int i = 0; i < kSlot; ++i) slot[i] = acc[i];
    }
  }

  auto opts = means2d.options();
  auto g_means = torch::zeros({n, 2}, opts), g_conics = torch::zeros({n, 3}, opts);
  auto g_opac = torch::zeros({n}, opts), g_colors = torch::zeros({n, 3}, opts);
  auto absgrad = torch::zeros({n, 2}, opts);
  float *gm = g_means.data_ptr<float>(), *gc = g_conics.data_ptr<float>(), *go = g_opac.data_ptr<float>();
  float *gcol = g_colors.data_ptr<float>(), *ga = absgrad.data_ptr<float>();
  for (int64_t k = 0; k < instances; ++k) {  // fixed order: the same sums for any thread count
    const int64_t g = list[k];
    const float* slot = &slots[size_t(k) * kSlot];
    gm[2 * g] += slot[0];
    gm[2 * g + 1] += slot[1];
    for (int c = 0; c < 3; ++c) gc[3 * g + c] += slot[2 + c];
    go[g] += slot[5];
    for (int c = 0; c < 3; ++c) gcol[3 * g + c] += slot[6 + c];
    ga[2 * g] += slot[9];
    ga[2 * g + 1] += slot[10];
  }
  return {g_means, g_conics, g_opac, g_colors, absgrad};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "tile-based CPU splat rasterization, forward");
  m.def("backward", &backward, "tile-based CPU splat rasterization, backward");
}
