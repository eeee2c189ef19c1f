using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using OpenCvSharp;
using OpenCvSharp.Aruco;
using QRCoder;

namespace KpuEdge.Vision.Forms;

/// <summary>What the QR code of a page says: which election, contest, TPS and page this sheet is.</summary>
public sealed record PageTag(string ElectionId, ContestId Contest, TpsCode Tps, int Page, int Pages)
{
    private const string Prefix = "KPU1";

    public string Encode() => $"{Prefix}|{ElectionId}|{Contest.Slug()}|{Tps.Value}|{Page}|{Pages}";

    public static PageTag? TryDecode(string? text)
    {
        var parts = text?.Split('|');
        if (parts is not { Length: 6 } || parts[0] != Prefix) return null;
        if (!Contests.TryParseSlug(parts[2], out var contest) || !TpsCode.TryParse(parts[3], out var tps)) return null;
        if (!int.TryParse(parts[4], out int page) || !int.TryParse(parts[5], out int pages) || page < 1 || page > pages) return null;
        return new PageTag(parts[1], contest, tps, page, pages);
    }
}

/// <summary>
/// Draws a TPS's blank C.Hasil pages from a <see cref="FormLayout"/>: registration markers, QR code, the printed
/// header (region names and TPS code, in a plain font Tesseract reads), and the boxes and bubble columns.
/// </summary>
public static class FormRenderer
{
    private static readonly Scalar Ink = Scalar.Black;
    private static readonly Scalar Print = new(40);
    private static readonly Scalar Faint = new(170);

    public static Mat RenderPage(FormLayout layout, int pageNumber, TpsCode tps, RegionTree tree)
    {
        var page = layout.Pages[pageNumber - 1];
        var image = new Mat(layout.Height, layout.Width, MatType.CV_8UC1, Scalar.White);
        using var dictionary = CvAruco.GetPredefinedDictionary(FormLayout.MarkerDictionary);
        foreach (var marker in page.Markers)
        {
            using var markerImage = new Mat();
            dictionary.GenerateImageMarker(marker.Id, marker.Box.Width, markerImage, 1);
            markerImage.CopyTo(image[new Rect(marker.Box.X, marker.Box.Y, marker.Box.Width, marker.Box.Height)]);
        }

        var tag = new PageTag(layout.ElectionId, layout.Contest, tps, pageNumber, layout.Pages.Count);
        DrawQr(image, page.Qr, tag.Encode());

        Text(image, $"MODEL C.HASIL-{ContestTitle(layout.Contest)}", page.Title.X, page.Title.Y + 40, 1.2, 3);
        var kec = tps.Region.AncestorAt(RegionLevel.Kecamatan);
        Text(image, $"PROVINSI: {Ascii(tree.NameOf(tps.Region.AncestorAt(RegionLevel.Provinsi)))}", page.Region.X, page.Region.Y + 30, 0.8, 2);
        Text(image, $"KAB/KOTA: {Ascii(tree.NameOf(tps.Region.AncestorAt(RegionLevel.KabKota)))}", page.Region.X, page.Region.Y + 62, 0.8, 2);
        Text(image, $"KECAMATAN: {Ascii(tree.NameOf(kec))}", page.Region.X, page.Region.Y + 94, 0.8, 2);
        Text(image, $"DESA/KEL: {Ascii(tree.NameOf(tps.Desa))}", page.Region.X, page.Region.Y + 126, 0.8, 2);
        // A Luhn check digit after the code lets the OCR fallback notice its own misreads (3 read as 5, ...).
        Text(image, $"TPS {tps.Value} {TpsCheckDigit(tps.Value)}", page.TpsCode.X, page.TpsCode.Y + 55, 1.6, 3);
        Text(image, $"HAL {pageNumber}/{layout.Pages.Count}", page.PageTag.X, page.PageTag.Y + 55, 1.4, 3);
        if (layout.Dapil.Length > 0) Text(image, $"DAPIL {layout.Dapil}", page.PageTag.Right + 40, page.PageTag.Y + 55, 1.0, 2);

        foreach (var field in page.Fields)
        {
            Text(image, field.Label, field.LabelBox.X, field.LabelBox.Y + 20, 0.45, 1);
            foreach (var digit in field.Digits)
            {
                var b = digit.Box;
                Cv2.Rectangle(image, new Rect(b.X, b.Y, b.Width, b.Height), Print, 2);
                foreach (var bubble in digit.Bubbles)
                {
                    Cv2.Circle(image, new Point(bubble.X, bubble.Y), layout.BubbleRadius, Print, 1, LineTypes.AntiAlias);
                    Cv2.PutText(image, bubble.Digit.ToString(), new Point(bubble.X + layout.BubbleRadius + 3, bubble.Y + 4),
                        HersheyFonts.HersheySimplex, 0.3, Faint, 1, LineTypes.AntiAlias);
                }
            }
        }
        return image;
    }

    /// <summary>Renders every page of a contest's form for a TPS.</summary>
    public static IReadOnlyList<Mat> RenderAll(FormLayout layout, TpsCode tps, RegionTree tree) =>
        layout.Pages.Select(p => RenderPage(layout, p.Number, tps, tree)).ToArray();

    /// <summary>Luhn check digit of a digit string: catches every single-digit error and most swaps.</summary>
    public static int TpsCheckDigit(string digits)
    {
        int sum = 0;
        for (int i = 0; i < digits.Length; i++)
        {
            int d = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
            sum += d;
        }
        return (10 - sum % 10) % 10;
    }

    public static string ContestTitle(ContestId contest) => contest switch
    {
        ContestId.Ppwp => "PPWP",
        ContestId.Dpr => "DPR",
        ContestId.Dpd => "DPD",
        ContestId.DprdProvinsi => "DPRD PROV",
        _ => "DPRD KAB/KOTA",
    };

    private static void DrawQr(Mat image, Box box, string payload)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        // QRCoder's matrix carries a 4-module quiet zone; the paper around the box is white already, so leave it
        // out and give the modules the room: about 8 px each, which phone photos resolve.
        const int quiet = 4;
        var matrix = data.ModuleMatrix;
        int n = matrix.Count - 2 * quiet;
        int module = Math.Max(1, box.Width / n);
        int offset = (box.Width - module * n) / 2;
        for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
        {
            if (matrix[y + quiet][x + quiet])
                Cv2.Rectangle(image, new Rect(box.X + offset + x * module, box.Y + offset + y * module, module, module), Ink, -1);
        }
    }

    private static void Text(Mat image, string text, int x, int y, double scale, int thickness) =>
        Cv2.PutText(image, text, new Point(x, y), HersheyFonts.HersheySimplex, scale, Print, thickness, LineTypes.AntiAlias);

    /// <summary>Hershey fonts draw ASCII only; region names are ASCII upper case already, this guards the rest.</summary>
    private static string Ascii(string text) => new(text.Select(c => c < 128 ? c : '?').ToArray());
}
