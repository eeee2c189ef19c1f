using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;

namespace KpuEdge.Vision.Forms;

/// <summary>An axis-aligned rectangle in page pixels.</summary>
public readonly record struct Box(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
}

/// <summary>A printed ArUco registration square: its dictionary id and where it sits on the page.</summary>
/// <param name="Corner">0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left.</param>
public sealed record MarkerLayout(int Id, int Corner, Box Box);

/// <summary>A bubble of a 0–9 column: the digit it stands for and its centre.</summary>
public sealed record BubbleLayout(int Digit, int X, int Y);

/// <summary>One handwriting box with the bubble column under it.</summary>
public sealed record DigitBoxLayout(Box Box, IReadOnlyList<BubbleLayout> Bubbles);

/// <summary>One number on the form: a label and three digit boxes (hundreds, tens, units).</summary>
public sealed record FieldLayout(string Key, string Label, Box LabelBox, IReadOnlyList<DigitBoxLayout> Digits);

/// <summary>What every page shares whatever its contest: size, marker squares by corner, QR and header boxes.</summary>
public sealed record PageFrame(int Width, int Height, IReadOnlyList<Box> MarkerBoxes, Box Qr, Box Title, Box Region, Box TpsCode, Box PageTag);

public sealed record PageLayout(
    int Number, IReadOnlyList<MarkerLayout> Markers, Box Qr, Box Title, Box Region, Box TpsCode, Box PageTag,
    IReadOnlyList<FieldLayout> Fields);

/// <summary>
/// Where everything sits on a contest's C.Hasil pages (A4 at 200 dpi): four ArUco markers whose ids name the
/// contest, the page and the corner; a QR code; the printed header; and for every number three 56×72 px boxes,
/// each with a 0–9 bubble column under it. The renderer draws from it and the reader reads by it, so the two
/// never disagree. It depends only on the ballot (the number of choices and candidates), not on the TPS.
/// </summary>
public sealed record FormLayout(string ElectionId, ContestId Contest, string Dapil, int Dpi, int Width, int Height,
    int BubbleRadius, IReadOnlyList<PageLayout> Pages)
{
    public const int DigitsPerField = 3;
    public const int MarkerSize = 120;
    public const int MaxPages = 12;

    private const int Margin = 40;
    private const int BoxWidth = 56, BoxHeight = 72, BoxGap = 8;
    private const int BubbleStep = 17, Radius = 6;
    private const int CellWidth = 220, CellHeight = 290;
    private const int GridTop = 430, Columns = 7, Rows = 6;

    /// <summary>ArUco dictionary of the markers (4×4 bits: large cells, robust in blurred photos).</summary>
    public const OpenCvSharp.Aruco.PredefinedDictionaryType MarkerDictionary = OpenCvSharp.Aruco.PredefinedDictionaryType.Dict4X4_250;

    /// <summary>Marker ids encode contest, page and corner, so markers alone tell which page is seen and which way up.</summary>
    public static int MarkerId(ContestId contest, int page, int corner) => (((int)contest - 1) * MaxPages + (page - 1)) * 4 + corner;

    public static (ContestId Contest, int Page, int Corner) DecodeMarkerId(int id) =>
        ((ContestId)(id / 4 / MaxPages + 1), id / 4 % MaxPages + 1, id % 4);

    public IEnumerable<FieldLayout> AllFields => Pages.SelectMany(p => p.Fields);

    /// <summary>The frame common to all pages, so a photo can be registered before its contest and TPS are known.</summary>
    public static readonly PageFrame Frame = new(
        Width: 1654, Height: 2339,
        MarkerBoxes:
        [
            new Box(Margin, Margin, MarkerSize, MarkerSize),
            new Box(1654 - Margin - MarkerSize, Margin, MarkerSize, MarkerSize),
            new Box(1654 - Margin - MarkerSize, 2339 - Margin - MarkerSize, MarkerSize, MarkerSize),
            new Box(Margin, 2339 - Margin - MarkerSize, MarkerSize, MarkerSize),
        ],
        Qr: new Box(1654 - Margin - 230, 185, 230, 230),
        Title: new Box(Margin + MarkerSize + 30, Margin, 1654 - 2 * (Margin + MarkerSize + 30), 60),
        Region: new Box(Margin, 190, 1654 - 2 * Margin - 250, 130),
        TpsCode: new Box(Margin, 330, 700, 70),
        PageTag: new Box(Margin + 760, 330, 300, 70));

    public static FormLayout For(ElectionDefinition election, Ballot ballot)
    {
        var f = Frame;
        var specs = TallyFields.For(ballot);
        int perPage = Columns * Rows;
        int pageCount = (specs.Count + perPage - 1) / perPage;
        if (pageCount > MaxPages) throw new InvalidOperationException($"{ballot.Contest.Slug()} needs {pageCount} pages; at most {MaxPages}.");
        var pages = new List<PageLayout>();
        for (int p = 1; p <= pageCount; p++)
        {
            var markers = Enumerable.Range(0, 4).Select(corner => new MarkerLayout(MarkerId(ballot.Contest, p, corner), corner, f.MarkerBoxes[corner])).ToArray();
            var fields = new List<FieldLayout>();
            var onPage = specs.Skip((p - 1) * perPage).Take(perPage).ToArray();
            for (int i = 0; i < onPage.Length; i++)
            {
                int x0 = Margin + 37 + i % Columns * CellWidth, y0 = GridTop + i / Columns * CellHeight;
                var digits = Enumerable.Range(0, DigitsPerField).Select(d =>
                {
                    var box = new Box(x0 + d * (BoxWidth + BoxGap), y0 + 30, BoxWidth, BoxHeight);
                    var bubbles = Enumerable.Range(0, 10)
                        .Select(digit => new BubbleLayout(digit, box.X + BoxWidth / 2, box.Bottom + 16 + digit * BubbleStep)).ToArray();
                    return new DigitBoxLayout(box, bubbles);
                }).ToArray();
                fields.Add(new FieldLayout(onPage[i].Key, onPage[i].Label, new Box(x0, y0, CellWidth - 10, 26), digits));
            }
            pages.Add(new PageLayout(p, markers, f.Qr, f.Title, f.Region, f.TpsCode, f.PageTag, fields));
        }
        return new FormLayout(election.ElectionId, ballot.Contest, ballot.Dapil, 200, f.Width, f.Height, Radius, pages);
    }

    public string ToJson() => JsonSerializer.Serialize(this, KpuJson.Files);
}
