using System.Numerics;
using System.Runtime.InteropServices;
using OpenCvSharp;
using OpenCvSharp.ML;

namespace KpuEdge.Vision.Digits;

/// <summary>
/// The one-vs-one decision values of a trained 10-class OpenCV RBF SVM, evaluated in managed code from its support
/// vectors and decision functions (<c>SVM.GetSupportVectors</c>, <c>SVM.GetDecisionFunction</c>) exactly as OpenCV's
/// <c>predict</c> does, so a reading gets every pairwise margin rather than only the vote winner.
/// Immutable after construction, hence thread-safe.
/// </summary>
internal sealed class OvoSvm
{
    public const int Classes = 10;
    public const int Pairs = Classes * (Classes - 1) / 2;
    private readonly float[] _sv;        // nSv × stride, zero-padded
    private readonly int _dim, _stride, _nSv;
    private readonly float _gamma;
    private readonly double[][] _alpha;  // per pair (i<j, row-major)
    private readonly int[][] _idx;       // per pair: indices into the support vectors
    private readonly double[] _rho;      // per pair

    public OvoSvm(SVM svm)
    {
        if (svm.KernelType != SVM.KernelTypes.Rbf) throw new ArgumentException("an RBF SVM is expected", nameof(svm));
        _gamma = (float)svm.Gamma;
        using var sv = svm.GetSupportVectors();
        _nSv = sv.Rows; _dim = sv.Cols;
        int lanes = Vector<float>.Count;
        _stride = (_dim + lanes - 1) / lanes * lanes;
        sv.GetArray(out float[] raw);
        _sv = new float[_nSv * _stride];
        for (int s = 0; s < _nSv; s++) Array.Copy(raw, s * _dim, _sv, s * _stride, _dim);
        _alpha = new double[Pairs][]; _idx = new int[Pairs][]; _rho = new double[Pairs];
        for (int p = 0; p < Pairs; p++)
        {
            using var alpha = new Mat();
            using var idx = new Mat();
            _rho[p] = svm.GetDecisionFunction(p, alpha, idx);
            alpha.GetArray(out double[] a);
            idx.GetArray(out int[] ix);
            if (a.Length != ix.Length) throw new InvalidDataException("malformed SVM decision function");
            foreach (var k in ix) if ((uint)k >= (uint)_nSv) throw new InvalidDataException("SVM decision function refers to a missing support vector");
            _alpha[p] = a; _idx[p] = ix;
        }
    }

    public int Dim => _dim;
    public int SupportVectors => _nSv;

    /// <summary>Pairwise decision values into <paramref name="d"/> (10×10, antisymmetric, zero diagonal):
    /// d[i,j] &gt; 0 means the pair (i,j) votes for i.</summary>
    public void Decide(ReadOnlySpan<float> x, double[,] d)
    {
        if (x.Length != _dim) throw new ArgumentException($"expected {_dim} features, got {x.Length}", nameof(x));
        var xp = new float[_stride];
        x.CopyTo(xp);
        var xv = MemoryMarshal.Cast<float, Vector<float>>(xp.AsSpan());
        var svAll = MemoryMarshal.Cast<float, Vector<float>>(_sv.AsSpan());
        int vecPerRow = _stride / Vector<float>.Count;
        var k = new double[_nSv];
        for (int s = 0; s < _nSv; s++)
        {
            var row = svAll.Slice(s * vecPerRow, vecPerRow);
            var acc = Vector<float>.Zero;
            for (int j = 0; j < vecPerRow; j++) { var t = xv[j] - row[j]; acc += t * t; }
            k[s] = Math.Exp(-_gamma * Vector.Sum(acc));
        }
        int p = 0;
        for (int i = 0; i < Classes; i++)
        {
            d[i, i] = 0;
            for (int j = i + 1; j < Classes; j++, p++)
            {
                double sum = -_rho[p];
                var a = _alpha[p]; var ix = _idx[p];
                for (int t = 0; t < a.Length; t++) sum += a[t] * k[ix[t]];
                d[i, j] = sum; d[j, i] = -sum;
            }
        }
    }
}
