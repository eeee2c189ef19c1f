using System.Collections.Concurrent;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Commands;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Edge.Screen;

/// <summary>A contest's form read from its page photos, waiting for the KPPS to confirm or correct it.</summary>
/// <param name="Photos">The photos as taken (what the reader read).</param>
/// <param name="LinkPages">The same pages recompressed for the thin link: what is signed (their hash) and sent.</param>
public sealed record KppsScan(string Id, FormScan Scan, IReadOnlyList<byte[]> Photos, IReadOnlyList<byte[]> LinkPages, DateTimeOffset TakenAt);

/// <summary>Why the device will not sign (a rule broken, the PIN, a correction without its reason), in Bahasa Indonesia.</summary>
public sealed class KppsRefusal(string message, IReadOnlyList<Violation>? violations = null) : Exception(message)
{
    public IReadOnlyList<Violation> Violations { get; } = violations ?? [];
}

/// <summary>
/// The KPPS's work on the device, whatever the screen: read a contest's page photos (<see cref="FormScanner"/>), check
/// numbers against every rule of the C.Hasil form as they are typed, sign the confirmed numbers with the KPPS chair's
/// PIN into the device's chain and outbox (a second version of a contest is a correction and says why), make the
/// witness QR, and tell where each contest's form stands on its way to the cloud.
/// </summary>
public sealed class KppsDesk(DeviceIdentity device, string deviceDirectory, Outbox outbox, FormSigner signer, BallotCatalog ballots,
    Func<FormScanner> scanner, KppsPin pin, Action wake, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, KppsScan> _scans = new(StringComparer.Ordinal);
    private readonly Lazy<FormScanner> _scanner = new(scanner);
    private readonly Lock _reading = new();

    public TpsCode Tps => device.Tps;
    public string DeviceId => device.DeviceId;
    public bool PinSet => pin.IsSet;

    /// <summary>The contests held at this TPS, in ballot order.</summary>
    public IReadOnlyList<ContestId> Contests => KpuEdge.Core.Elections.Contests.All.Where(c => ballots.For(c, device.Tps) is not null).ToList();

    /// <summary>Reads the page photos of one contest's form. Throws <see cref="ScanException"/> with the reason (wrong TPS, a missing page, no form found).</summary>
    public KppsScan Read(IReadOnlyList<byte[]> photos, ContestId? contest)
    {
        if (photos.Count == 0) throw new KppsRefusal("Ambil foto setiap halaman formulir dulu.");
        FormScan scan;
        lock (_reading) scan = _scanner.Value.Scan(photos, new ScanExpectation(device.Tps, contest, Crops: true));
        var pages = photos.Select(p => LinkImage.Compress(p).Jpeg).ToList();
        var read = new KppsScan(Guid.NewGuid().ToString("N"), scan, photos, pages, time.GetUtcNow());
        // A handful of forms at a time on one device: older readings go.
        foreach (var old in _scans.Values.OrderByDescending(s => s.TakenAt).Skip(9)) _scans.TryRemove(old.Id, out _);
        _scans[read.Id] = read;
        return read;
    }

    public KppsScan? Find(string id) => _scans.GetValueOrDefault(id);

    /// <summary>The crop of field <paramref name="key"/> (PNG) from a reading's straightened page.</summary>
    public byte[]? Crop(string id, string key) =>
        Find(id)?.Scan.Pages.SelectMany(p => p.Fields).LastOrDefault(f => f.Key == key)?.Crop;

    /// <summary>Every rule of the form against this TPS's ballot (messages name the fields, in Bahasa Indonesia).</summary>
    public IReadOnlyList<Violation> Check(C1Tally tally)
    {
        if (tally.Tps != device.Tps) return [new Violation("tps", "wrong_tps", $"Angka ini untuk TPS {tally.Tps}, bukan TPS {device.Tps}.")];
        return C1Validator.Validate(tally, ballots.For(tally.Contest, tally.Tps));
    }

    /// <summary>The device's newest signed version of <paramref name="contest"/>, if any.</summary>
    public OutboxEntry? Newest(ContestId contest) =>
        outbox.All().Where(e => e.Tps == device.Tps && e.Contest == contest).MaxBy(e => e.Sequence);

    /// <summary>
    /// Signs <paramref name="tally"/> (with the page photos of <paramref name="scanId"/>, when given) after the PIN and every
    /// rule: nothing is signed while one breaks. A contest already signed needs <paramref name="correctionReason"/>.
    /// </summary>
    public SignedSubmission Sign(C1Tally tally, string? scanId, string? pinText, string? correctionReason)
    {
        if (!pin.Check(pinText, out var refusal)) throw new KppsRefusal(refusal!);
        if (Check(tally) is { Count: > 0 } violations) throw new KppsRefusal("Formulir tidak konsisten; tidak ditandatangani.", violations);
        var scan = scanId is null ? null : Find(scanId) ?? throw new KppsRefusal("Foto formulir ini sudah tidak ada di layar; pindai ulang.");
        if (scan is not null && (scan.Scan.Contest != tally.Contest || scan.Scan.Tps != tally.Tps))
            throw new KppsRefusal($"Foto yang dipindai adalah formulir {scan.Scan.Contest.Slug()}, bukan {tally.Contest.Slug()}.");
        string? reason = string.IsNullOrWhiteSpace(correctionReason) ? null : correctionReason.Trim();
        if (Newest(tally.Contest) is not null && reason is null)
            throw new KppsRefusal($"{tally.Contest.Slug().ToUpperInvariant()} sudah pernah ditandatangani: versi baru adalah koreksi dan wajib disertai alasan.");
        if (reason is { Length: > SubmissionCodec.MaxReasonLength }) throw new KppsRefusal($"Alasan koreksi paling panjang {SubmissionCodec.MaxReasonLength} karakter.");
        SignedSubmission signed;
        try { signed = outbox.SignAndAdd(signer, tally, scan?.LinkPages ?? [], reason); }
        catch (TallyRejectedException e) { throw new KppsRefusal("Formulir tidak konsisten; tidak ditandatangani.", e.Violations); }
        // Kept as a file too, as `kpu-edge submit` does: the witness QR is made from these bytes.
        string folder = Path.Combine(deviceDirectory, "signed");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, $"{signed.Submission.Sequence:D6}-{tally.Contest.Slug()}.cbor"), signed.Wire);
        if (scanId is not null) _scans.TryRemove(scanId, out _);
        wake();
        return signed;
    }

    /// <summary>The witness QR of a form this device signed (PNG), for the saksi to photograph.</summary>
    public byte[]? WitnessQr(Sha256Hash hash) => outbox.Find(hash) is { } entry ? WitnessQrCommand.RenderPng(SignedSubmission.Decode(entry.Wire)) : null;

    /// <summary>Where each contest's newest version stands: waiting, sent, receipted with a verified proof, or refused; and its photos.</summary>
    public IReadOnlyList<(ContestId Contest, OutboxEntry? Entry, int Versions, ImageProgress Photos)> Status()
    {
        var all = outbox.All().Where(e => e.Tps == device.Tps).ToList();
        var pages = outbox.Pages();
        return Contests.Select(c =>
        {
            var versions = all.Where(e => e.Contest == c).ToList();
            var newest = versions.MaxBy(e => e.Sequence);
            var mine = newest is null ? [] : pages.Where(p => p.Contest == c && SignedSubmission.Decode(newest.Wire).Submission.ImageHash == p.ImageHash).ToList();
            var photos = new ImageProgress(mine.Count, mine.Count(p => p.State == PageState.Stored), mine.Count(p => p.State == PageState.Refused),
                mine.Sum(p => (long)p.Confirmed), mine.Sum(p => (long)p.Size));
            return (c, newest, versions.Count, photos);
        }).ToList();
    }
}
