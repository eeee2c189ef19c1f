using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;

namespace KpuEdge.Vision.Reading;

/// <summary>What one handwriting box and its bubble column show.</summary>
/// <param name="Handwriting">The classifier's reading, or null when the box is blank.</param>
/// <param name="Bubble">The one filled bubble's digit; null when none is filled; -1 when several are.</param>
public sealed record BoxReading(DigitReading? Handwriting, int? Bubble, double InkFraction)
{
    public bool Blank => Handwriting is null;
}

/// <summary>The raw reading of one field: its three boxes.</summary>
public sealed record FieldRead(string Key, string Label, int Page, IReadOnlyList<BoxReading> Boxes)
{
    /// <summary>The field cut from the straightened page (label, boxes and bubbles), PNG: what the KPPS compares the value with. Only when asked for.</summary>
    public byte[]? Crop { get; init; }
}

/// <summary>One page after registration: which page it is and every field on it, as read.</summary>
/// <param name="TagSource">"qr" when the QR code was read, "ocr" when the printed TPS code had to be read instead.</param>
public sealed record PageRead(PageTag Tag, string TagSource, IReadOnlyList<FieldRead> Fields, double Milliseconds);
