// SSIM over the "valid" region (11-tap Gaussian window, sigma 1.5) and its analytic gradient, on a CPU.
//
// Why: the D-SSIM loss through PyTorch is ten grouped convolutions forward and back plus a dozen
// image-sized temporaries, the largest share of a CPU training step after the rasterizer. This computes
// what `metrics.ssim_separable` computes (the same sums, fused-ssim's "valid" region) in two separable
// passes per direction, and in the forward pass also the three per-pixel partial derivatives of SSIM
// (with respect to mu_x, E[x^2] and E[xy]), so the backward pass is three transposed blurs.
//
// Images are planar (C, H, W) float32. Strips of rows run in parallel (OpenMP), each through a ring of
// the last 11 rows so the two passes stay in cache; the mean is summed per row and
// then over rows in a fixed order, so the result does not depend on the thread count.
#include <torch/extension.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

constexpr int kWindow = 11;
constexpr float kC1 = 0.01f * 0.01f, kC2 = 0.03f * 0.03f;

std::vector<float> taps(double sigma) {
  std::vector<float> g(kWindow);
  double sum = 0.0;
  for (int k = 0; k < kWindow; ++k) sum += std::exp(-std::pow(k - (kWindow - 1) / 2.0, 2) / (2 * sigma * sigma));
  for (int k = 0; k < kWindow; ++k)
    g[k] = float(std::exp(-std::pow(k - (kWindow - 1) / 2.0, 2) / (2 * sigma * sigma)) / sum);
  return g;
}

}  // namespace

// x, y (C, H, W). Returns the SSIM sum over the valid region (float64 scalar) and, when `with_grad`,
// dS/dmu_x, dS/dE[x^2], dS/dE[xy] per valid pixel (each (C, H-10, W-10)).
std::vector<torch::Tensor> forward(torch::Tensor x, torch::Tensor y, double sigma, bool with_grad) {
  const int64_t C = x.size(0), H = x.size(1), W = x.size(2);
  const int64_t Hv = H - kWindow + 1, Wv = W - kWindow + 1;
  TORCH_CHECK(Hv > 0 && Wv > 0, "SSIM needs images of at least 11x11 pixels");
  const std::vector<float> g = taps(sigma);
  const float* px = x.data_ptr<float>();
  const float* py = y.data_ptr<float>();
  auto opts = x.options();
  torch::Tensor d_mu, d_xx, d_xy;
  float *pmu = nullptr, *pxx = nullptr, *pxy = nullptr;
  if (with_grad) {
    d_mu = torch::empty({C, Hv, Wv}, opts), d_xx = torch::empty({C, Hv, Wv}, opts);
    d_xy = torch::empty({C, Hv, Wv}, opts);
    pmu = d_mu.data_ptr<float>(), pxx = d_xx.data_ptr<float>(), pxy = d_xy.data_ptr<float>();
  }
  // Strips of output rows per channel; within one, each input row's horizontal pass of the five maps
  // (x, y, x^2, y^2, xy) goes into a ring of the last 11 rows, which stays in cache for the vertical pass.
  constexpr int64_t kStrip = 64;
  const int64_t strips = (Hv + kStrip - 1) / kStrip;
  std::vector<double> row_sums(size_t(C * Hv), 0.0);
#pragma omp parallel num_threads(at::get_num_threads())
  {
    std::vector<float> src(5 * W), ring(size_t(5) * kWindow * Wv), mu(5 * Wv);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < C * strips; ++task) {
      const int64_t c = task / strips, first = (task % strips) * kStrip;
      const int64_t last = std::min(Hv, first + kStrip);  // output rows [first, last)
      for (int64_t h = first; h < last + kWindow - 1; ++h) {
        const float* xr = px + (c * H + h) * W;
        const float* yr = py + (c * H + h) * W;
        for (int64_t w = 0; w < W; ++w) {
          const float a = xr[w], b = yr[w];
          src[w] = a, src[W + w] = b, src[2 * W + w] = a * a, src[3 * W + w] = b * b, src[4 * W + w] = a * b;
        }
        for (int m = 0; m < 5; ++m) {
          float* out = &ring[(m * kWindow + h % kWindow) * Wv];
          const float* in = &src[m * W];
          for (int64_t j = 0; j < Wv; ++j) out[j] = 0.0f;
          for (int k = 0; k < kWindow; ++k) {
            const float t = g[k];
            for (int64_t j = 0; j < Wv; ++j) out[j] += t * in[j + k];
          }
        }
        const int64_t i = h - (kWindow - 1);  // the output row whose window ends at input row h
        if (i < first) continue;
        std::fill(mu.begin(), mu.end(), 0.0f);
        for (int m = 0; m < 5; ++m) {
          float* acc = &mu[m * Wv];
          for (int k = 0; k < kWindow; ++k) {
            const float* in = &ring[(m * kWindow + (i + k) % kWindow) * Wv];
            const float t = g[k];
            for (int64_t j = 0; j < Wv; ++j) acc[j] += t * in[j];
          }
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < Wv; ++j) {
          const float mx = mu[j], my = mu[Wv + j];
          const float vx = mu[2 * Wv + j] - mx * mx, vy = mu[3 * Wv + j] - my * my;
          const float cov = mu[4 * Wv + j] - mx * my;
          const float a1 = 2 * mx * my + kC1, a2 = 2 * cov + kC2;
          const float b1 = mx * mx + my * my + kC1, b2 = vx + vy + kC2;
          const float d = b1 * b2, s = a1 * a2 / d;
          sum += s;
          mu[j] = (2 * my * (a2 - a1) - s * 2 * mx * (b2 - b1)) / d;  // mu_x is not read again
          mu[Wv + j] = -s / b2;
          mu[2 * Wv + j] = 2 * a1 / d;
        }
        const int64_t row = c * Hv + i;
        if (with_grad) {
          std::copy(&mu[0], &mu[Wv], pmu + row * Wv);
          std::copy(&mu[Wv], &mu[2 * Wv], pxx + row * Wv);
          std::copy(&mu[2 * Wv], &mu[3 * Wv], pxy + row * Wv);
        }
        row_sums[row] = sum;
      }
    }
  }
  double total = 0.0;
  for (double s : row_sums) total += s;
  auto result = torch::full({}, total, opts.dtype(torch::kFloat64));
  if (!with_grad) return {result};
  return {result, d_mu, d_xx, d_xy};
}

// dL/dx (C, H, W) for L = scale * sum of SSIM, from the forward pass's three derivative maps.
torch::Tensor backward(torch::Tensor x, torch::Tensor y, torch::Tensor d_mu, torch::Tensor d_xx,
                       torch::Tensor d_xy, double sigma, double scale) {
  const int64_t C = x.size(0), H = x.size(1), W = x.size(2);
  const int64_t Hv = d_mu.size(1), Wv = d_mu.size(2);
  const std::vector<float> g = taps(sigma);
  const float* maps[3] = {d_mu.data_ptr<float>(), d_xx.data_ptr<float>(), d_xy.data_ptr<float>()};
  auto grad = torch::empty({C, H, W}, x.options());
  float* pg = grad.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  const float* py = y.data_ptr<float>();
  const float s = float(scale);
#pragma omp parallel num_threads(at::get_num_threads())
  {
    // Per input row: the transposed vertical pass of the three maps (the valid rows whose window holds
    // it; consecutive rows of one thread reread the same few, from cache), zero-padded by the window on
    // both sides, then the transposed horizontal pass.
    std::vector<float> padded(size_t(3) * (Wv + 2 * (kWindow - 1)), 0.0f), a(3 * W);
    const int64_t stride = Wv + 2 * (kWindow - 1);
#pragma omp for schedule(static)
    for (int64_t row = 0; row < C * H; ++row) {
      const int64_t c = row / H, h = row % H;
      for (int m = 0; m < 3; ++m) {
        float* v = &padded[m * stride + (kWindow - 1)];
        for (int64_t j = 0; j < Wv; ++j) v[j] = 0.0f;
        for (int k = 0; k < kWindow; ++k) {
          const int64_t i = h - k;  // valid row i covers rows i..i+10 with tap h - i
          if (i < 0 || i >= Hv) continue;
          const float* src = maps[m] + (c * Hv + i) * Wv;
          const float t = g[k];
          for (int64_t j = 0; j < Wv; ++j) v[j] += t * src[j];
        }
        float* out = &a[m * W];
        for (int64_t w = 0; w < W; ++w) out[w] = 0.0f;
        for (int k = 0; k < kWindow; ++k) {  // valid column j = w - k, at padded[w - k + 10]
          const float t = g[k];
          const float* in = &padded[m * stride + kWindow - 1 - k];
          for (int64_t w = 0; w < W; ++w) out[w] += t * in[w];
        }
      }
      const float* xr = px + row * W;
      const float* yr = py + row * W;
      float* gr = pg + row * W;
      for (int64_t w = 0; w < W; ++w) gr[w] = s * (a[w] + 2.0f * xr[w] * a[W + w] + yr[w] * a[2 * W + w]);
    }
  }
  return grad;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "SSIM sum over the valid region and its per-pixel derivatives");
  m.def("backward", &backward, "gradient of the SSIM sum with respect to the first image");
}
