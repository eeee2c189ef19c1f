using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>What the page reader needs of a digit model: a reading of one normalized digit
/// (<see cref="DigitNormalizer"/>) and the confidence at or above which it is trusted without a human. The seam
/// between the reader and its models (<see cref="CnnDigitClassifier"/> on the device; the HOG + SVM
/// <see cref="DigitClassifier"/> alone for comparison).</summary>
public interface IDigitClassifier : IDisposable
{
    DigitReading Classify(Mat normalized);
    double ConfidentThreshold { get; }
}
