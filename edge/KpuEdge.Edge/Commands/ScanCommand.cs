using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Vision.Camera;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Edge.Commands;

/// <summary>`kpu-edge scan`: read a contest's form from photos (files or the camera) and show what needs a human.</summary>
public static class ScanCommand
{
    public sealed record Settings(string[] Images, int? Camera, int Pages, string? Tps, string? Contest, bool Json, string? TallyOut, string? ElectionPath);

    public static int Run(Settings settings)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = settings.ElectionPath is null ? ElectionDefinition.Default : ElectionDefinition.Load(settings.ElectionPath);
        ContestId? contest = null;
        if (settings.Contest is not null)
        {
            if (!Contests.TryParseSlug(settings.Contest, out var c)) return Fail(settings.Json, "bad_argument", $"Kontestasi tidak dikenal: {settings.Contest}");
            contest = c;
        }
        TpsCode? tps = null;
        if (settings.Tps is not null)
        {
            if (!TpsCode.TryParse(settings.Tps, out var t)) return Fail(settings.Json, "bad_argument", $"Kode TPS tidak sah: {settings.Tps}");
            tps = t;
        }

        var images = new List<byte[]>();
        try
        {
            using IFrameSource source = settings.Camera is { } bus ? new V4l2Camera(bus) : new FileFrameSource(settings.Images);
            int count = settings.Camera is null ? ((FileFrameSource)source).Remaining : Math.Max(1, settings.Pages);
            for (int i = 0; i < count; i++) images.Add(source.Capture());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return Fail(settings.Json, "no_image", $"Gambar tidak dapat diambil: {e.Message}");
        }
        if (images.Count == 0) return Fail(settings.Json, "no_image", "Tidak ada gambar untuk dipindai.");

        using var scanner = FormScanner.CreateDefault(tree, election);
        FormScan scan;
        try
        {
            scan = scanner.Scan(images, new ScanExpectation(tps, contest));
        }
        catch (ScanException e)
        {
            return Fail(settings.Json, e.Code, e.Message);
        }
        var imageHash = Convert.ToHexStringLower(FormDecider.ImageHash(images));
        if (settings.TallyOut is not null && scan.AutoAccepted) File.WriteAllText(settings.TallyOut, scan.Tally.ToJson());

        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(ToJson(scan, imageHash), KpuJson.Wire));
        }
        else
        {
            Print(scan, imageHash);
            if (settings.TallyOut is not null)
                Console.WriteLine(scan.AutoAccepted ? $"Angka ditulis ke {settings.TallyOut}." : $"Angka TIDAK ditulis ke {settings.TallyOut}: periksa dulu kolom yang ditandai.");
        }
        return scan.AutoAccepted ? 0 : 3;
    }

    public static object ToJson(FormScan scan, string imageHash) => new
    {
        contest = scan.Contest.Slug(),
        tps = scan.Tps.Value,
        auto_accepted = scan.AutoAccepted,
        image_sha256 = imageHash,
        flagged_fields = scan.Flagged.Count(),
        fields = scan.Fields.Select(f => new
        {
            key = f.Key, label = f.Label, page = f.Page, value = f.Value, confidence = Math.Round(f.Confidence, 4),
            flags = f.Flags, suggestion = f.Suggestion, handwriting = f.HandwritingValue, bubbles = f.BubbleValue,
        }),
        violations = scan.Violations.Select(v => new { field = v.Field, rule = v.Rule, message = v.Message }),
        pages = scan.Pages.Select(p => new { page = p.Tag.Page, tag_source = p.TagSource, ms = Math.Round(p.Milliseconds, 1) }),
    };

    private static void Print(FormScan scan, string imageHash)
    {
        Console.WriteLine($"Formulir {scan.Contest.Slug()} TPS {scan.Tps}, {scan.Pages.Count} halaman, hash gambar {imageHash}");
        foreach (var f in scan.Fields)
        {
            string mark = f.AutoAccepted ? "  " : "! ";
            string extra = f.AutoAccepted ? "" : $"  [{string.Join(", ", f.Flags.Select(Explain))}]" + (f.Suggestion is { } s ? $"  usulan: {s}" : "");
            Console.WriteLine($"{mark}{f.Label,-28} {f.Value,4}  ({f.Confidence:P0}){extra}");
        }
        foreach (var v in scan.Violations) Console.WriteLine($"  Aturan dilanggar: {v.Message}");
        Console.WriteLine(scan.AutoAccepted
            ? "DITERIMA OTOMATIS: semua angka terbaca yakin dan semua aturan terpenuhi."
            : $"PERLU DIPERIKSA: {scan.Flagged.Count()} kolom ditandai (!). Cocokkan dengan kertas sebelum ditandatangani.");
    }

    /// <summary>Flag codes in words for the KPPS.</summary>
    public static string Explain(string flag) => flag switch
    {
        FieldFlags.LowConfidence => "tulisan kurang jelas",
        FieldFlags.BubbleDisagreement => "bulatan tidak sama dengan tulisan",
        FieldFlags.BubbleAmbiguous => "lebih dari satu bulatan dihitamkan",
        FieldFlags.Empty => "kotak kosong",
        FieldFlags.Misaligned => "angka tidak rata kanan",
        _ when flag.StartsWith(FieldFlags.RulePrefix, StringComparison.Ordinal) => $"aturan {flag[FieldFlags.RulePrefix.Length..]}",
        _ => flag,
    };

    private static int Fail(bool json, string code, string message)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(new { error = code, message }, KpuJson.Wire));
        else Console.Error.WriteLine($"GAGAL ({code}): {message}");
        return 2;
    }
}
