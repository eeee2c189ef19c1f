using System.Diagnostics;
using KpuEdge.Vision.Digits;

namespace KpuEdge.DigitTraining;

/// <summary>The recipe: the network's shape and how it is trained.</summary>
internal sealed record Recipe(int Conv1, int Conv2, int Hidden, int Epochs, int Batch, double LearningRate, double WeightDecay, double Dropout, int Seed)
{
    public override string ToString() => FormattableString.Invariant(
        $"conv {Conv1}/{Conv2}, dense {Hidden}, {Epochs} epochs of batch {Batch}, Adam lr {LearningRate} cosine to 0, L2 {WeightDecay}, dropout {Dropout}, seed {Seed}");
}

/// <summary>
/// Trains <see cref="DigitCnn"/>'s network by back-propagation in plain C# (minibatch Adam, softmax cross-entropy),
/// on two threads: each minibatch is cut into two fixed halves whose gradients are summed in a fixed order, so the
/// result is the same on every run. (TorchSharp-cpu 0.107's libtorch needs a newer libstdc++ than Debian 12 has; a
/// network this small trains in minutes without it, and the device's forward pass is the same code.)
/// </summary>
internal sealed class CnnTrainer
{
    private const int S = DigitNormalizer.Size, N1 = S * S, N2 = N1 / 4, N3 = N2 / 4, K9 = 9;
    private readonly Recipe _r;
    private readonly int _c1, _c2, _h;
    // parameters in one array, layer by layer: W1 B1 W2 B2 W3 B3 W4 B4
    private readonly float[] _p;
    private readonly int[] _off;
    private readonly int[] _len;

    private CnnTrainer(Recipe r)
    {
        _r = r; _c1 = r.Conv1; _c2 = r.Conv2; _h = r.Hidden;
        _len = [_c1 * K9, _c1, _c2 * _c1 * K9, _c2, _h * _c2 * N3, _h, 10 * _h, 10];
        _off = new int[_len.Length];
        for (int i = 1; i < _len.Length; i++) _off[i] = _off[i - 1] + _len[i - 1];
        _p = new float[_off[^1] + _len[^1]];
        // He initialisation of the weights (normal, sd √(2 / fan-in)), biases zero
        var rng = new Random(r.Seed);
        int[] fanIn = [K9, 0, _c1 * K9, 0, _c2 * N3, 0, _h, 0];
        for (int layer = 0; layer < 8; layer += 2)
        {
            double sd = Math.Sqrt(2.0 / fanIn[layer]);
            for (int i = 0; i < _len[layer]; i++) _p[_off[layer] + i] = (float)(sd * Gauss(rng));
        }
    }

    private Span<float> P(float[] a, int layer) => a.AsSpan(_off[layer], _len[layer]);

    private static double Gauss(Random rng)
    {
        double u = 1 - rng.NextDouble(), v = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    /// <summary>Working memory of one sample's forward and backward pass.</summary>
    private sealed class Work(int c1, int c2, int h)
    {
        public readonly float[] Col1 = new float[K9 * N1], Z1 = new float[c1 * N1], P1 = new float[c1 * N2];
        public readonly int[] Arg1 = new int[c1 * N2];
        public readonly float[] Col2 = new float[c1 * K9 * N2], Z2 = new float[c2 * N2], P2 = new float[c2 * N3];
        public readonly int[] Arg2 = new int[c2 * N3];
        public readonly float[] Hid = new float[h], Logits = new float[10];
        public readonly bool[] Keep = new bool[h];
        public readonly float[] DLogits = new float[10], DHid = new float[h], DP2 = new float[c2 * N3], DZ2 = new float[c2 * N2];
        public readonly float[] DCol2 = new float[c1 * K9 * N2], DP1 = new float[c1 * N2], DZ1 = new float[c1 * N1];
    }

    /// <summary>Forward pass (dropout when <paramref name="rng"/> is given); fills w.Logits.</summary>
    private void Forward(ReadOnlySpan<float> x, Work w, Random? rng)
    {
        DigitCnn.Im2Col(x, 1, S, w.Col1);
        for (int o = 0; o < _c1; o++)
        {
            var z = w.Z1.AsSpan(o * N1, N1);
            z.Fill(P(_p, 1)[o]);
            var wt = P(_p, 0).Slice(o * K9, K9);
            for (int k = 0; k < K9; k++) DigitCnn.Axpy(wt[k], w.Col1.AsSpan(k * N1, N1), z);
        }
        Pool(w.Z1, _c1, S, w.P1, w.Arg1);
        DigitCnn.Im2Col(w.P1, _c1, S / 2, w.Col2);
        for (int o = 0; o < _c2; o++)
        {
            var z = w.Z2.AsSpan(o * N2, N2);
            z.Fill(P(_p, 3)[o]);
            var wt = P(_p, 2).Slice(o * _c1 * K9, _c1 * K9);
            for (int k = 0; k < wt.Length; k++) DigitCnn.Axpy(wt[k], w.Col2.AsSpan(k * N2, N2), z);
        }
        Pool(w.Z2, _c2, S / 2, w.P2, w.Arg2);
        float keepScale = rng is null ? 1 : (float)(1 / (1 - _r.Dropout));
        for (int j = 0; j < _h; j++)
        {
            float v = Math.Max(0, P(_p, 5)[j] + DigitCnn.Dot(P(_p, 4).Slice(j * w.P2.Length, w.P2.Length), w.P2));
            bool keep = rng is null || rng.NextDouble() >= _r.Dropout;
            w.Keep[j] = keep;
            w.Hid[j] = keep ? v * keepScale : 0;
        }
        for (int j = 0; j < 10; j++) w.Logits[j] = P(_p, 7)[j] + DigitCnn.Dot(P(_p, 6).Slice(j * _h, _h), w.Hid);
    }

    /// <summary>ReLU and 2×2 max-pool, remembering where each maximum came from (−1 when it was not positive).</summary>
    private static void Pool(float[] z, int channels, int side, float[] pooled, int[] arg)
    {
        int h = side / 2;
        for (int c = 0; c < channels; c++)
        for (int y = 0; y < h; y++)
        for (int x = 0; x < h; x++)
        {
            int i = c * side * side + 2 * y * side + 2 * x, best = i;
            if (z[i + 1] > z[best]) best = i + 1;
            if (z[i + side] > z[best]) best = i + side;
            if (z[i + side + 1] > z[best]) best = i + side + 1;
            int o = c * h * h + y * h + x;
            pooled[o] = Math.Max(0, z[best]);
            arg[o] = z[best] > 0 ? best : -1;
        }
    }

    /// <summary>Adds this sample's gradient (of the loss scaled by <paramref name="scale"/>) to <paramref name="g"/>;
    /// returns the sample's cross-entropy.</summary>
    private double Backward(int label, Work w, float[] g, float scale)
    {
        float max = w.Logits.Max();
        double sum = 0;
        for (int j = 0; j < 10; j++) sum += Math.Exp(w.Logits[j] - max);
        for (int j = 0; j < 10; j++) w.DLogits[j] = (float)(Math.Exp(w.Logits[j] - max) / sum) * scale;
        w.DLogits[label] -= scale;
        double loss = -(w.Logits[label] - max - Math.Log(sum));

        // dense 2
        Array.Clear(w.DHid);
        for (int j = 0; j < 10; j++)
        {
            DigitCnn.Axpy(w.DLogits[j], w.Hid, P(g, 6).Slice(j * _h, _h));
            P(g, 7)[j] += w.DLogits[j];
            DigitCnn.Axpy(w.DLogits[j], P(_p, 6).Slice(j * _h, _h), w.DHid);
        }
        // dense 1 (through dropout and ReLU: a dropped or non-positive unit passes nothing back)
        float keepScale = (float)(1 / (1 - _r.Dropout));
        Array.Clear(w.DP2);
        for (int j = 0; j < _h; j++)
        {
            if (!w.Keep[j] || w.Hid[j] <= 0) continue;
            float d = w.DHid[j] * keepScale;
            DigitCnn.Axpy(d, w.P2, P(g, 4).Slice(j * w.P2.Length, w.P2.Length));
            P(g, 5)[j] += d;
            DigitCnn.Axpy(d, P(_p, 4).Slice(j * w.P2.Length, w.P2.Length), w.DP2);
        }
        // pool 2 and conv 2
        Array.Clear(w.DZ2);
        for (int i = 0; i < w.DP2.Length; i++) if (w.Arg2[i] >= 0) w.DZ2[w.Arg2[i]] += w.DP2[i];
        Array.Clear(w.DCol2);
        int k2 = _c1 * K9;
        for (int o = 0; o < _c2; o++)
        {
            var dz = w.DZ2.AsSpan(o * N2, N2);
            var gw = P(g, 2).Slice(o * k2, k2);
            var wt = P(_p, 2).Slice(o * k2, k2);
            float db = 0;
            foreach (var v in dz) db += v;
            P(g, 3)[o] += db;
            for (int k = 0; k < k2; k++)
            {
                gw[k] += DigitCnn.Dot(dz, w.Col2.AsSpan(k * N2, N2));
                DigitCnn.Axpy(wt[k], dz, w.DCol2.AsSpan(k * N2, N2));
            }
        }
        Col2Im(w.DCol2, _c1, S / 2, w.DP1);
        // pool 1 and conv 1
        Array.Clear(w.DZ1);
        for (int i = 0; i < w.DP1.Length; i++) if (w.Arg1[i] >= 0) w.DZ1[w.Arg1[i]] += w.DP1[i];
        for (int o = 0; o < _c1; o++)
        {
            var dz = w.DZ1.AsSpan(o * N1, N1);
            float db = 0;
            foreach (var v in dz) db += v;
            P(g, 1)[o] += db;
            for (int k = 0; k < K9; k++) P(g, 0)[o * K9 + k] += DigitCnn.Dot(dz, w.Col1.AsSpan(k * N1, N1));
        }
        return loss;
    }

    /// <summary>The adjoint of <see cref="DigitCnn.Im2Col"/>: sums each row's values back onto the input positions.</summary>
    private static void Col2Im(float[] col, int channels, int side, float[] input)
    {
        int n = side * side;
        Array.Clear(input);
        for (int c = 0; c < channels; c++)
        for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
        {
            var row = col.AsSpan(((c * 3 + ky) * 3 + kx) * n, n);
            int dy = ky - 1, dx = kx - 1;
            int x0 = Math.Max(0, -dx), x1 = Math.Min(side, side - dx);
            for (int y = Math.Max(0, -dy); y < Math.Min(side, side - dy); y++)
            {
                var src = row.Slice(y * side + x0, x1 - x0);
                var dst = input.AsSpan(c * n + (y + dy) * side + x0 + dx, x1 - x0);
                for (int i = 0; i < src.Length; i++) dst[i] += src[i];
            }
        }
    }

    private DigitCnn Export() => DigitCnn.FromLayers(_c1, _c2, _h, 1.0, 0.5, "",
        P(_p, 0).ToArray(), P(_p, 1).ToArray(), P(_p, 2).ToArray(), P(_p, 3).ToArray(),
        P(_p, 4).ToArray(), P(_p, 5).ToArray(), P(_p, 6).ToArray(), P(_p, 7).ToArray());

    /// <summary>Trains on the given samples (indices into <paramref name="data"/>); uncalibrated (T = 1).</summary>
    public static DigitCnn Train(TrainingData data, IReadOnlyList<int> samples, Recipe r, Action<string> log)
    {
        var t = new CnnTrainer(r);
        const int Parts = 2;
        var grads = Enumerable.Range(0, Parts).Select(_ => new float[t._p.Length]).ToArray();
        var works = Enumerable.Range(0, Parts).Select(_ => new Work(t._c1, t._c2, t._h)).ToArray();
        var m = new float[t._p.Length];
        var v = new float[t._p.Length];
        const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;
        var order = samples.ToArray();
        var shuffle = new Random(r.Seed + 1);
        int stepsPerEpoch = (order.Length + r.Batch - 1) / r.Batch, steps = r.Epochs * stepsPerEpoch, step = 0;
        var losses = new double[Parts];
        for (int epoch = 0; epoch < r.Epochs; epoch++)
        {
            var watch = Stopwatch.StartNew();
            shuffle.Shuffle(order);
            double lossSum = 0;
            for (int start = 0; start < order.Length; start += r.Batch)
            {
                int n = Math.Min(r.Batch, order.Length - start);
                float scale = 1f / n;
                int batchStep = step;
                Parallel.For(0, Parts, part =>
                {
                    var g = grads[part];
                    Array.Clear(g);
                    losses[part] = 0;
                    // each half has its own dropout stream, seeded by the step: the same on every run
                    var drop = new Random(unchecked(r.Seed * 31 + batchStep * 2 + part));
                    for (int j = part; j < n; j += Parts)
                    {
                        int s = order[start + j];
                        t.Forward(data.X.AsSpan(s * TrainingData.Pixels, TrainingData.Pixels), works[part], drop);
                        losses[part] += t.Backward(data.Label[s], works[part], g, scale);
                    }
                });
                for (int part = 1; part < Parts; part++) DigitCnn.Axpy(1, grads[part], grads[0]);
                lossSum += losses.Sum();

                double lr = 0.5 * r.LearningRate * (1 + Math.Cos(Math.PI * step / steps));
                step++;
                double c1 = 1 - Math.Pow(Beta1, step), c2 = 1 - Math.Pow(Beta2, step);
                var gr = grads[0];
                for (int i = 0; i < t._p.Length; i++)
                {
                    float gi = gr[i] + (float)r.WeightDecay * t._p[i];
                    m[i] = (float)(Beta1 * m[i] + (1 - Beta1) * gi);
                    v[i] = (float)(Beta2 * v[i] + (1 - Beta2) * gi * gi);
                    t._p[i] -= (float)(lr * (m[i] / c1) / (Math.Sqrt(v[i] / c2) + Eps));
                }
            }
            log(FormattableString.Invariant($"  epoch {epoch + 1}/{r.Epochs}: loss {lossSum / order.Length:F4} ({watch.Elapsed.TotalSeconds:F0} s)"));
        }
        var net = t.Export();
        // the device's forward pass must give what training saw
        var check = new Work(t._c1, t._c2, t._h);
        var logits = new float[10];
        foreach (var s in order.Take(50))
        {
            var x = data.X.AsSpan(s * TrainingData.Pixels, TrainingData.Pixels);
            t.Forward(x, check, null);
            net.Logits(x, logits);
            for (int j = 0; j < 10; j++)
                if (Math.Abs(logits[j] - check.Logits[j]) > 1e-3f * (1 + Math.Abs(logits[j])))
                    throw new InvalidOperationException("DigitCnn's forward pass disagrees with the trainer's");
        }
        return net;
    }

    /// <summary>Compares the back-propagated gradient with finite differences on a few samples (a self-check).</summary>
    public static double GradientCheck(TrainingData data, Recipe r)
    {
        var t = new CnnTrainer(r with { Dropout = 0 });
        // biases off zero: at zero every empty background window sits exactly on ReLU's kink, where finite
        // differences and the (one-sided) gradient rightly disagree
        var init = new Random(3);
        for (int layer = 1; layer < 8; layer += 2)
            for (int i = 0; i < t._len[layer]; i++) t._p[t._off[layer] + i] = (float)(0.1 * init.NextDouble() + 0.01);
        var w = new Work(t._c1, t._c2, t._h);
        var g = new float[t._p.Length];
        int[] samples = [0, 1, 2, 3];
        double Loss()
        {
            double l = 0;
            foreach (var s in samples)
            {
                t.Forward(data.X.AsSpan(s * TrainingData.Pixels, TrainingData.Pixels), w, null);
                float max = w.Logits.Max();
                double sum = w.Logits.Sum(z => Math.Exp(z - max));
                l -= w.Logits[data.Label[s]] - max - Math.Log(sum);
            }
            return l;
        }
        foreach (var s in samples)
        {
            t.Forward(data.X.AsSpan(s * TrainingData.Pixels, TrainingData.Pixels), w, new Random(0));
            t.Backward(data.Label[s], w, g, 1);
        }
        var rng = new Random(5);
        double worst = 0;
        for (int layer = 0; layer < 8; layer++)
        for (int probe = 0; probe < 5; probe++)
        {
            int i = t._off[layer] + rng.Next(t._len[layer]);
            float keep = t._p[i];
            const float H = 1e-3f;
            t._p[i] = keep + H; double up = Loss();
            t._p[i] = keep - H; double down = Loss();
            t._p[i] = keep;
            double numeric = (up - down) / (2 * H);
            double err = Math.Abs(numeric - g[i]) / Math.Max(1e-2, Math.Abs(numeric) + Math.Abs(g[i]));
            if (err > 0.05) Console.WriteLine(FormattableString.Invariant($"layer {layer} parameter {i}: numeric {numeric:E3}, back-propagated {g[i]:E3}"));
            worst = Math.Max(worst, err);
        }
        return worst;
    }
}
