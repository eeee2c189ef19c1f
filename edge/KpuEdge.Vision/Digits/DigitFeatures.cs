namespace KpuEdge.Vision.Digits;

/// <summary>Feature vectors of a normalized 20×20 digit.</summary>
internal static class DigitFeatures
{
    /// <summary>Histograms of oriented gradients (Sobel 3×3, signed orientation) on a <paramref name="grid"/>×grid of
    /// cells with <paramref name="bins"/> orientation bins, soft-binned in angle and space (bilinear), then
    /// Hellinger-normalized (L1, square root, L2) as in OpenCV's digits sample.</summary>
    public static void Hog(ReadOnlySpan<float> px, int grid, int bins, Span<float> dst)
    {
        const int n = DigitNormalizer.Size;
        if (px.Length != n * n) throw new ArgumentException("a 20×20 image is expected", nameof(px));
        int len = grid * grid * bins;
        if (dst.Length != len) throw new ArgumentException($"{len} features expected", nameof(dst));
        dst.Clear();
        float cell = (float)n / grid;
        for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
        {
            float gx = (P(px, y - 1, x + 1) + 2 * P(px, y, x + 1) + P(px, y + 1, x + 1)) - (P(px, y - 1, x - 1) + 2 * P(px, y, x - 1) + P(px, y + 1, x - 1));
            float gy = (P(px, y + 1, x - 1) + 2 * P(px, y + 1, x) + P(px, y + 1, x + 1)) - (P(px, y - 1, x - 1) + 2 * P(px, y - 1, x) + P(px, y - 1, x + 1));
            float mag = MathF.Sqrt(gx * gx + gy * gy);
            if (mag < 1e-6f) continue;
            float ang = MathF.Atan2(gy, gx);
            if (ang < 0) ang += 2 * MathF.PI;
            float fb = ang / (2 * MathF.PI) * bins - 0.5f;
            int b0 = (int)MathF.Floor(fb);
            float wb1 = fb - b0;
            int b1 = (b0 + 1) % bins;
            b0 = (b0 % bins + bins) % bins;
            float fx = (x + 0.5f) / cell - 0.5f, fy = (y + 0.5f) / cell - 0.5f;
            int cx0 = (int)MathF.Floor(fx), cy0 = (int)MathF.Floor(fy);
            float wx1 = fx - cx0, wy1 = fy - cy0;
            for (int dy = 0; dy < 2; dy++)
            {
                int cy = cy0 + dy;
                if ((uint)cy >= (uint)grid) continue;
                float wy = dy == 0 ? 1 - wy1 : wy1;
                for (int dx = 0; dx < 2; dx++)
                {
                    int cx = cx0 + dx;
                    if ((uint)cx >= (uint)grid) continue;
                    float w = mag * wy * (dx == 0 ? 1 - wx1 : wx1);
                    int o = (cy * grid + cx) * bins;
                    dst[o + b0] += w * (1 - wb1);
                    dst[o + b1] += w * wb1;
                }
            }
        }
        Hellinger(dst);
    }

    private static float P(ReadOnlySpan<float> px, int y, int x)
        => (uint)y < DigitNormalizer.Size && (uint)x < DigitNormalizer.Size ? px[y * DigitNormalizer.Size + x] : 0f;

    private static void Hellinger(Span<float> v)
    {
        float sum = 0;
        foreach (var a in v) sum += a;
        if (sum <= 0) return;
        float sq = 0;
        for (int i = 0; i < v.Length; i++) { v[i] = MathF.Sqrt(v[i] / sum); sq += v[i] * v[i]; }
        float norm = MathF.Sqrt(sq);
        if (norm > 0) for (int i = 0; i < v.Length; i++) v[i] /= norm;
    }
}
