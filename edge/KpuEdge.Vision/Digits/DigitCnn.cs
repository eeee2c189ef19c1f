using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace KpuEdge.Vision.Digits;

/// <summary>
/// A small convolutional network over a normalized 20×20 digit (<see cref="DigitNormalizer"/>), evaluated in plain C#:
/// conv 3×3 (pad 1) → ReLU → max-pool 2 → conv 3×3 (pad 1) → ReLU → max-pool 2 → dense → ReLU → dense (10 logits).
/// Trained by <c>edge/KpuEdge.DigitTraining</c> (TorchSharp, not needed here); the device only reads the weights
/// file and runs the forward pass, so it needs no libtorch or ONNX runtime. Immutable and thread-safe.
/// <para>
/// The weights file (<c>Data/digit-cnn.bin</c>, little-endian): magic <c>KPUDCNN1</c>; int32 conv1 channels,
/// conv2 channels, hidden units; float64 temperature, confident threshold, SVM weight; a UTF-8 note (int32 length, bytes) on how
/// it was made; then float32 conv1 weight [c1,1,3,3] and bias, conv2 weight [c2,c1,3,3] and bias, dense1 weight
/// [hidden, c2·5·5] and bias, dense2 weight [10, hidden] and bias (PyTorch's layouts).
/// </para>
/// </summary>
public sealed class DigitCnn
{
    internal const string Magic = "KPUDCNN1";
    private const int Side = DigitNormalizer.Size, Half = Side / 2, Quarter = Side / 4, K = 3;

    public int Conv1Channels { get; }
    public int Conv2Channels { get; }
    public int Hidden { get; }
    /// <summary>Softmax temperature fitted on readings of digits the network never trained on (logits / T).</summary>
    public double Temperature { get; }
    /// <summary>Readings whose calibrated probability is at or above this are "confident".</summary>
    public double ConfidentThreshold { get; }
    /// <summary>0: the threshold applies to the network's own probabilities; w &gt; 0: to (1 − w)·network + w·SVM
    /// (<see cref="DigitClassifier"/>'s ranked scores), the combination it was calibrated for.</summary>
    public double SvmWeight { get; }
    /// <summary>How the weights were made (command, seed, epochs), as the training tool wrote it.</summary>
    public string Note { get; }

    internal readonly float[] W1, B1, W2, B2, W3, B3, W4, B4;

    internal DigitCnn(int c1, int c2, int hidden, double temperature, double threshold, double svmWeight, string note,
        float[] w1, float[] b1, float[] w2, float[] b2, float[] w3, float[] b3, float[] w4, float[] b4)
    {
        if (c1 <= 0 || c2 <= 0 || hidden <= 0 || c1 > 256 || c2 > 256 || hidden > 4096) throw new InvalidDataException("digit CNN: bad layer sizes");
        if (!(temperature > 0) || !(threshold is > 0 and <= 1) || !(svmWeight is >= 0 and < 1)) throw new InvalidDataException("digit CNN: bad calibration");
        Check(w1, c1 * K * K); Check(b1, c1); Check(w2, c2 * c1 * K * K); Check(b2, c2);
        Check(w3, hidden * c2 * Quarter * Quarter); Check(b3, hidden); Check(w4, 10 * hidden); Check(b4, 10);
        Conv1Channels = c1; Conv2Channels = c2; Hidden = hidden; Temperature = temperature; ConfidentThreshold = threshold; SvmWeight = svmWeight; Note = note;
        W1 = w1; B1 = b1; W2 = w2; B2 = b2; W3 = w3; B3 = b3; W4 = w4; B4 = b4;

        static void Check(float[] a, int n)
        {
            if (a.Length != n) throw new InvalidDataException($"digit CNN: a layer has {a.Length} values, {n} expected");
            foreach (var v in a) if (!float.IsFinite(v)) throw new InvalidDataException("digit CNN: a weight is not finite");
        }
    }

    /// <summary>The ten logits for a 20×20 image given as 400 intensities in [0,1] (row-major, ink = 1).</summary>
    public void Logits(ReadOnlySpan<float> pixels, Span<float> logits)
    {
        if (pixels.Length != Side * Side) throw new ArgumentException($"{Side * Side} pixels expected", nameof(pixels));
        if (logits.Length != 10) throw new ArgumentException("10 logits expected", nameof(logits));
        int c1 = Conv1Channels, c2 = Conv2Channels;
        var pool1 = new float[c1 * Half * Half];
        var col = new float[K * K * Side * Side];
        var plane = new float[Side * Side];

        // conv1 as a small matrix product over the 9 shifted copies of the image (im2col), then ReLU and pool
        Im2Col(pixels, 1, Side, col);
        for (int o = 0; o < c1; o++)
        {
            plane.AsSpan().Fill(B1[o]);
            for (int k = 0; k < K * K; k++) Axpy(W1[o * K * K + k], col.AsSpan(k * Side * Side, Side * Side), plane);
            ReluPool(plane, Side, pool1.AsSpan(o * Half * Half, Half * Half));
        }

        // conv2 the same way at 10×10
        var col2 = new float[c1 * K * K * Half * Half];
        Im2Col(pool1, c1, Half, col2);
        var pool2 = new float[c2 * Quarter * Quarter];
        var plane2 = plane.AsSpan(0, Half * Half);
        for (int o = 0; o < c2; o++)
        {
            plane2.Fill(B2[o]);
            var w = W2.AsSpan(o * c1 * K * K, c1 * K * K);
            for (int k = 0; k < w.Length; k++) Axpy(w[k], col2.AsSpan(k * Half * Half, Half * Half), plane2);
            ReluPool(plane2, Half, pool2.AsSpan(o * Quarter * Quarter, Quarter * Quarter));
        }

        var hidden = new float[Hidden];
        for (int j = 0; j < Hidden; j++)
            hidden[j] = Math.Max(0, B3[j] + Dot(W3.AsSpan(j * pool2.Length, pool2.Length), pool2));
        for (int j = 0; j < 10; j++)
            logits[j] = B4[j] + Dot(W4.AsSpan(j * Hidden, Hidden), hidden);
    }

    /// <summary>The nine 3×3-neighbourhood shifts of each channel (zero padding), as rows of <paramref name="col"/>:
    /// row (channel·9 + ky·3 + kx) holds input(y + ky − 1, x + kx − 1) for every output position.</summary>
    internal static void Im2Col(ReadOnlySpan<float> input, int channels, int side, Span<float> col)
    {
        int n = side * side;
        col.Clear();
        for (int c = 0; c < channels; c++)
        for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++)
        {
            var row = col.Slice(((c * K + ky) * K + kx) * n, n);
            int dy = ky - 1, dx = kx - 1;
            int x0 = Math.Max(0, -dx), x1 = Math.Min(side, side - dx);
            for (int y = Math.Max(0, -dy); y < Math.Min(side, side - dy); y++)
                input.Slice(c * n + (y + dy) * side + x0 + dx, x1 - x0).CopyTo(row.Slice(y * side + x0, x1 - x0));
        }
    }

    private static void ReluPool(ReadOnlySpan<float> plane, int side, Span<float> pooled)
    {
        int h = side / 2;
        for (int y = 0; y < h; y++)
        for (int x = 0; x < h; x++)
        {
            int i = 2 * y * side + 2 * x;
            float m = Math.Max(Math.Max(plane[i], plane[i + 1]), Math.Max(plane[i + side], plane[i + side + 1]));
            pooled[y * h + x] = Math.Max(0, m);
        }
    }

    internal static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<float>(a);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            for (int v = 0; v < vx.Length; v++) vy[v] += va * vx[v];
            i = vx.Length * Vector<float>.Count;
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }

    internal static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float sum = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var acc = Vector<float>.Zero;
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            for (int v = 0; v < va.Length; v++) acc += va[v] * vb[v];
            sum = Vector.Sum(acc);
            i = va.Length * Vector<float>.Count;
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Calibrated probabilities of the ten digits: softmax(logits / <see cref="Temperature"/>).</summary>
    public void Probabilities(ReadOnlySpan<float> pixels, Span<double> p)
    {
        Span<float> logits = stackalloc float[10];
        Logits(pixels, logits);
        float max = float.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < 10; i++) sum += p[i] = Math.Exp((logits[i] - max) / Temperature);
        for (int i = 0; i < 10; i++) p[i] /= sum;
    }

    internal const string ResourceName = "KpuEdge.Vision.Data.digit-cnn.bin";

    /// <summary>The vendored network (Data/digit-cnn.bin, embedded in this assembly).</summary>
    public static DigitCnn LoadBundled()
    {
        using var s = typeof(DigitCnn).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        return Read(s);
    }

    // ---------------------------------------------------------------- the weights file

    /// <summary>Reads a weights file; <see cref="InvalidDataException"/> if it is not one or is damaged.</summary>
    public static DigitCnn Read(Stream stream)
    {
        using var r = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            if (Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic) throw new InvalidDataException("not a digit CNN weights file");
            int c1 = r.ReadInt32(), c2 = r.ReadInt32(), hidden = r.ReadInt32();
            double temperature = r.ReadDouble(), threshold = r.ReadDouble(), svmWeight = r.ReadDouble();
            int noteLength = r.ReadInt32();
            if (noteLength is < 0 or > 1 << 16) throw new InvalidDataException("digit CNN: bad note");
            string note = Encoding.UTF8.GetString(r.ReadBytes(noteLength));
            if (c1 is <= 0 or > 256 || c2 is <= 0 or > 256 || hidden is <= 0 or > 4096) throw new InvalidDataException("digit CNN: bad layer sizes");
            float[] F(int n)
            {
                var bytes = r.ReadBytes(n * 4);
                if (bytes.Length != n * 4) throw new InvalidDataException("digit CNN: file is truncated");
                var a = new float[n];
                for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
                return a;
            }
            var w1 = F(c1 * K * K); var b1 = F(c1);
            var w2 = F(c2 * c1 * K * K); var b2 = F(c2);
            var w3 = F(hidden * c2 * Quarter * Quarter); var b3 = F(hidden);
            var w4 = F(10 * hidden); var b4 = F(10);
            if (stream.CanSeek && stream.Position != stream.Length) throw new InvalidDataException("digit CNN: trailing bytes");
            return new DigitCnn(c1, c2, hidden, temperature, threshold, svmWeight, note, w1, b1, w2, b2, w3, b3, w4, b4);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("digit CNN: file is truncated", e);
        }
    }

    /// <summary>Writes the weights file (the training tool's output).</summary>
    public void Write(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Encoding.ASCII.GetBytes(Magic));
        w.Write(Conv1Channels); w.Write(Conv2Channels); w.Write(Hidden);
        w.Write(Temperature); w.Write(ConfidentThreshold); w.Write(SvmWeight);
        var note = Encoding.UTF8.GetBytes(Note);
        w.Write(note.Length); w.Write(note);
        foreach (var a in new[] { W1, B1, W2, B2, W3, B3, W4, B4 })
            foreach (var v in a) w.Write(v);
    }

    /// <summary>A network from its layers (the training tool), with calibration.</summary>
    public static DigitCnn FromLayers(int conv1Channels, int conv2Channels, int hidden, double temperature, double confidentThreshold, string note,
        float[] conv1Weight, float[] conv1Bias, float[] conv2Weight, float[] conv2Bias,
        float[] dense1Weight, float[] dense1Bias, float[] dense2Weight, float[] dense2Bias) =>
        new(conv1Channels, conv2Channels, hidden, temperature, confidentThreshold, 0, note,
            conv1Weight, conv1Bias, conv2Weight, conv2Bias, dense1Weight, dense1Bias, dense2Weight, dense2Bias);

    /// <summary>The same network with other calibration (the training tool fits it after training).</summary>
    public DigitCnn WithCalibration(double temperature, double confidentThreshold, double svmWeight, string note) =>
        new(Conv1Channels, Conv2Channels, Hidden, temperature, confidentThreshold, svmWeight, note, W1, B1, W2, B2, W3, B3, W4, B4);
}
