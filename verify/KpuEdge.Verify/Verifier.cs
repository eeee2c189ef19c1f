using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify;

/// <summary>Which submission an inclusion check is about.</summary>
public abstract record InclusionTarget
{
    private InclusionTarget() { }

    /// <summary>By submission hash (SHA-256 of the wire bytes): the entry must be 0x01 ‖ bytes with that hash.</summary>
    public sealed record ByHash(Sha256Hash Hash) : InclusionTarget;

    /// <summary>The version of a TPS's contest form the log serves: the entry must be a submission of that TPS and contest.</summary>
    public sealed record ByTps(TpsCode Tps, ContestId Contest) : InclusionTarget;

    /// <summary>A submission the verifier holds: the entry must be exactly 0x01 ‖ these bytes.</summary>
    public sealed record BySubmission(byte[] Wire) : InclusionTarget;
}

/// <summary>
/// kpu-verify's checks, as a class so tests call them directly. Trusts only what the caller brings: the log's
/// verifier key and KPU's root and issuing certificates. The log's HTTP API is transport; each answer is verified.
/// </summary>
public sealed partial class Verifier(HttpClient http)
{
    /// <summary>Entries asked for per request in an audit (the API's own maximum).</summary>
    public const int AuditPageSize = 1000;

    /// <summary>`kpu-verify submission`: offline, a submission file against a device certificate and the trust anchors.</summary>
    public static VerificationReport VerifySubmission(byte[] wire, string certificatePem, TrustAnchors anchors)
    {
        var report = new VerificationReport("submission");
        KpuCertificate certificate;
        try
        {
            certificate = KpuCertificate.FromPem(certificatePem);
        }
        catch (CertificateFormatException e)
        {
            return report.CannotCheck("bad_certificate_file", $"The device certificate: {e.Message}");
        }
        var signed = SubmissionChecks.Decode(wire, report);
        if (signed is null) return report;
        try
        {
            SubmissionChecks.CheckSigner(signed, certificate, anchors, report);
        }
        catch (CertificateFormatException e)
        {
            return report.CannotCheck("bad_trust_anchor_file", $"The root or issuing CA file: {e.Message}");
        }
        return report;
    }

    /// <summary>`kpu-verify inclusion`: the log's signed checkpoint, the inclusion proof against it, and that the entry is the submission asked about.</summary>
    public async Task<VerificationReport> VerifyInclusionAsync(Uri log, NoteVerifierKey key, InclusionTarget target, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("inclusion");
        if (target is InclusionTarget.BySubmission { Wire: var wire })
        {
            if (SubmissionChecks.Decode(wire, report) is null) return report;
        }
        await CheckInclusionAsync(new LogClient(http, log), key, target, report, cancellationToken);
        return report;
    }

    /// <summary>`kpu-verify consistency`: the old checkpoint's tree is a prefix of the new one's (default: the log's latest).</summary>
    public async Task<VerificationReport> VerifyConsistencyAsync(Uri log, NoteVerifierKey key, string oldNote, string? newNote = null, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("consistency");
        var client = new LogClient(http, log);
        var oldResult = LogVerification.VerifyCheckpoint(oldNote, key, out var oldCheckpoint);
        if (!report.Add(ToCheck("old_checkpoint", oldResult))) return report;
        if (newNote is null)
        {
            try
            {
                newNote = await client.CheckpointAsync(cancellationToken);
            }
            catch (LogApiException e)
            {
                return report.CannotCheck("log_unreachable", e.Message);
            }
        }
        var newResult = LogVerification.VerifyCheckpoint(newNote, key, out var newCheckpoint);
        if (!report.Add(ToCheck("new_checkpoint", newResult))) return report;
        Checkpoint o = oldCheckpoint!.Checkpoint, n = newCheckpoint!.Checkpoint;
        report.Fact("origin", n.Origin);
        report.Fact("old_size", o.Size);
        report.Fact("new_size", n.Size);
        report.Fact("new_root", Convert.ToBase64String(n.RootHash));

        IReadOnlyList<byte[]> proof = [];
        // The empty tree and an unchanged size need no proof; the API serves none for them.
        if (o.Size > 0 && o.Size < n.Size)
        {
            try
            {
                var answer = await client.ConsistencyAsync(o.Size, n.Size, cancellationToken);
                if (answer.From != o.Size || answer.To != n.Size)
                    return Done(report, Check.Fail("consistency_proof", LogErrors.SizeMismatch, $"Asked for a proof from {o.Size} to {n.Size}; the log answered from {answer.From} to {answer.To}."));
                if (!TryDecodeHashes(answer.Proof, out var hashes))
                    return Done(report, Check.Fail("consistency_proof", LogErrors.BadProof, "A proof hash is not base64."));
                proof = hashes;
            }
            catch (LogApiException e) when (e.Status is >= System.Net.HttpStatusCode.BadRequest and < System.Net.HttpStatusCode.InternalServerError)
            {
                // The log refuses to prove what its own signed checkpoints claim: that is a finding, not an I/O error.
                return Done(report, Check.Fail("consistency_proof", LogErrors.BadProof, $"The log gives no proof from {o.Size} to {n.Size}: {e.Message}"));
            }
            catch (LogApiException e)
            {
                return report.CannotCheck("log_unreachable", e.Message);
            }
        }
        if (report.Add(ToCheck("consistency_proof", LogVerification.VerifyConsistency(oldCheckpoint, newCheckpoint, proof, key))))
            report.VerifiedCheckpoint = newNote;
        return report;
    }

    /// <summary>
    /// `kpu-verify qr`: a photo of the witness QR → the submission → its device certificate (fetched, but validated
    /// against the caller's root) → signature, chain, revocation, TPS → inclusion in the log.
    /// </summary>
    public async Task<VerificationReport> VerifyQrPhotoAsync(Uri log, NoteVerifierKey key, byte[] photo, TrustAnchors anchors, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("qr");
        var reading = QrPhotoReader.Read(photo);
        if (!reading.Found) return report.CannotCheck(reading.Error!, reading.Detail);
        if (!WitnessQr.TryDecode(reading.Payload, out var wire, out string? qrError))
        {
            if (qrError == "wrong_prefix")
                return report.CannotCheck("not_a_witness_qr", $"{reading.Detail} It is not a KPU witness QR (those start with {WitnessQr.Prefix}): '{Shorten(reading.Payload!)}'.");
            return Done(report, Check.Fail("qr", qrError, $"{reading.Detail} The payload starts like a witness QR but is not one ({qrError})."));
        }
        report.Add(Check.Pass("qr", $"{reading.Detail} A witness QR of {wire.Length} bytes."));
        var signed = SubmissionChecks.Decode(wire, report);
        if (signed is null) return report;

        var client = new LogClient(http, log);
        if (!await CheckSignerFromLogAsync(client, signed, anchors, report, cancellationToken)) return report;
        await CheckInclusionAsync(client, key, new InclusionTarget.BySubmission(wire), report, cancellationToken);
        return report;
    }

    /// <summary>
    /// `kpu-verify image`: the form of a TPS's contest that the recap counts, proven in the log (as `inclusion --tps
    /// --contest`), its signer checked as `qr` does, then its page images — the files the caller brings (hashed in the
    /// order given), else the pages fetched from the log's API — hashed into the image hash the device signed. The API
    /// is transport only: a page counts because of its hash, never because of where it came from.
    /// </summary>
    public async Task<VerificationReport> VerifyImagesAsync(Uri log, NoteVerifierKey key, TrustAnchors anchors, TpsCode tps, ContestId contest,
        IReadOnlyList<byte[]>? localPages, CancellationToken cancellationToken = default) =>
        (await VerifyAndFetchImagesAsync(log, key, anchors, tps, contest, localPages, cancellationToken)).Report;

    /// <summary>The same, with the fetched pages when every check passed (for `--save`); null pages otherwise or when the caller brought them.</summary>
    internal async Task<(VerificationReport Report, IReadOnlyList<byte[]>? Pages)> VerifyAndFetchImagesAsync(Uri log, NoteVerifierKey key, TrustAnchors anchors,
        TpsCode tps, ContestId contest, IReadOnlyList<byte[]>? localPages, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("image");
        if (localPages is { Count: 0 })
            return (report.CannotCheck("usage", "Give at least one page file, or none to fetch the pages from the log's API."), null);
        var client = new LogClient(http, log);
        var entry = await CheckInclusionAsync(client, key, new InclusionTarget.ByTps(tps, contest), report, cancellationToken);
        if (entry is null) return (report, null);
        // A proven submission entry is 0x01 ‖ the wire bytes the device signed.
        var signed = SubmissionChecks.Decode(entry.AsMemory(1), report);
        if (signed is null) return (report, null);
        if (!await CheckSignerFromLogAsync(client, signed, anchors, report, cancellationToken)) return (report, null);

        var imageHash = signed.Submission.ImageHash;
        string form = $"{contest.Slug()} form of TPS {tps}";
        if (imageHash.IsEmpty)
        {
            report.Add(Check.Fail("image_named", "no_image", $"The signed {form} names no image: there are no photos it vouches for."));
            return (report, null);
        }
        report.Add(Check.Pass("image_named", $"The signed {form} names image {imageHash}."));
        report.Fact("image_hash", imageHash);

        FormImageAnswer? listed = null;
        string? listError = null;
        try
        {
            listed = (await client.ImagesAsync(tps.Value, cancellationToken)).Images?.FirstOrDefault(i =>
                i.Contest == contest.Slug() && Sha256Hash.TryParseHex(i.ImageHash, out var h) && h == imageHash);
        }
        catch (LogApiException e)
        {
            listError = e.Message;
        }

        IReadOnlyList<byte[]> pages;
        if (localPages is not null)
        {
            pages = localPages;
            report.Add(Check.Pass("image_pages", $"{Pages(pages.Count)} given as files ({pages.Sum(p => (long)p.Length):N0} bytes), hashed in the order given; nothing fetched."));
        }
        else
        {
            if (listError is not null) return (report.CannotCheck("log_unreachable", listError), null);
            if (listed is null)
                return (Done(report, Check.Fail("image_pages", "image_missing", $"The log's API lists no page of image {imageHash} of the {form}: its photos have not arrived.")), null);
            if (listed.Pages is < 1 or > ImageChunk.MaxPages)
                return (Done(report, Check.Fail("image_pages", "image_missing", $"The log's API says image {imageHash} has {listed.Pages} pages; a form image has 1 to {ImageChunk.MaxPages}.")), null);
            var fetched = new List<byte[]>();
            var notServed = new List<string>();
            // Every page the image has, not only those the list says are stored: the list is transport too.
            for (int page = 1; page <= listed.Pages; page++)
            {
                try
                {
                    fetched.Add(await client.ImagePageAsync(tps.Value, contest.Slug(), imageHash.ToString(), page, cancellationToken));
                }
                catch (LogApiException e) when (e.TooLarge)
                {
                    notServed.Add($"{page} (refused: larger than {ImageChunk.MaxPageBytes:N0} bytes, so not a link image)");
                }
                catch (LogApiException e) when (e.Status is >= System.Net.HttpStatusCode.BadRequest and < System.Net.HttpStatusCode.InternalServerError)
                {
                    notServed.Add(page.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                catch (LogApiException e)
                {
                    return (report.CannotCheck("log_unreachable", e.Message), null);
                }
            }
            if (notServed.Count > 0)
            {
                string code = fetched.Count == 0 ? "image_missing" : "image_incomplete";
                return (Done(report, Check.Fail("image_pages", code,
                    $"{fetched.Count} of the {Pages(listed.Pages)} of image {imageHash} are served; missing: page {string.Join(", ", notServed)}.")), null);
            }
            pages = fetched;
            report.Add(Check.Pass("image_pages", $"Fetched all {Pages(pages.Count)} of image {imageHash} from the log's API ({pages.Sum(p => (long)p.Length):N0} bytes), trusted only once hashed."));
        }
        report.Fact("image_pages", pages.Count);

        var pageHashes = pages.Select(p => Sha256Hash.Of(p)).ToArray();
        var made = ImageChunk.FormImageHash(pageHashes);
        if (made == imageHash)
        {
            report.Add(Check.Pass("image_hash", $"The {Pages(pages.Count)} hash to the signed image hash {imageHash}: they are the photos the device signed."));
            return (report, localPages is null ? pages : null);
        }
        report.Add(Check.Fail("image_hash", "image_mismatch",
            $"The {Pages(pages.Count)} hash to {made}, not the signed image hash {imageHash}: {WhichPagesDiffer(pageHashes, listed, imageHash)}"));
        return (report, null);
    }

    /// <summary>
    /// Which pages differ, told by the API's per-page hashes — but only when together they make the signed image hash:
    /// then they are the signed pages' hashes (SHA-256 is the proof, not the server); otherwise the list cannot tell.
    /// </summary>
    private static string WhichPagesDiffer(Sha256Hash[] given, FormImageAnswer? listed, Sha256Hash imageHash)
    {
        if (listed?.Stored is not { Length: > 0 } stored || listed.Pages is < 1 or > ImageChunk.MaxPages)
            return "the log's API lists no page hashes to tell which page differs.";
        var signedPages = new Sha256Hash[listed.Pages];
        for (int i = 0; i < signedPages.Length; i++)
        {
            if (stored.FirstOrDefault(p => p.Page == i + 1) is not { } page || !Sha256Hash.TryParseHex(page.Sha256, out signedPages[i]) || signedPages[i].IsEmpty)
                return $"the log's API lists no hash of page {i + 1} to tell which page differs.";
        }
        if (ImageChunk.FormImageHash(signedPages) != imageHash)
            return "the page hashes the log's API lists do not make the signed image hash either, so they cannot tell which page differs.";
        var differences = new List<string>();
        for (int i = 0; i < Math.Max(given.Length, signedPages.Length); i++)
        {
            if (i >= signedPages.Length)
                differences.Add($"page {i + 1} is one more than the signed {Pages(signedPages.Length)}");
            else if (i >= given.Length)
                differences.Add($"page {i + 1} is missing");
            else if (given[i] != signedPages[i])
                differences.Add(Array.IndexOf(signedPages, given[i]) is var other and >= 0
                    ? $"page {i + 1} is the signed page {other + 1} (wrong order?)"
                    : $"page {i + 1} differs (SHA-256 {Short(given[i])}, the signed page's {Short(signedPages[i])})");
        }
        return $"per the page hashes the log's API lists (they make the signed image hash), {string.Join("; ", differences)}.";
    }

    private static string Pages(int count) => count == 1 ? "1 page" : $"{count} pages";

    private static string Short(Sha256Hash hash) => hash.ToString()[..16] + "…";

    /// <summary>
    /// `kpu-verify audit`: every entry of the log, downloaded in pages, hashed into a tree whose root must be the one
    /// the log signed (an altered, missing or extra stored entry changes it), and every entry decoded.
    /// </summary>
    public async Task<VerificationReport> AuditAsync(Uri log, NoteVerifierKey key, IProgress<(long Done, long Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("audit");
        var client = new LogClient(http, log);
        if (await LatestCheckpointAsync(client, key, report, cancellationToken) is not { } checkpoint) return report;
        report.Fact("origin", checkpoint.Origin);
        report.Fact("tree_size", checkpoint.Size);
        report.Fact("root", Convert.ToBase64String(checkpoint.RootHash));

        var tree = new MerkleTree();
        long submissions = 0, revocations = 0;
        var malformed = new List<string>();
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var duplicates = new List<string>();
        if (!await ReadEntriesAsync(client, checkpoint.Size, report, (index, entry) =>
            {
                tree.Append(entry);
                if (!LogEntry.TryDecode(entry, out var decoded, out string? error))
                {
                    if (malformed.Count < 10) malformed.Add($"{index} ({error})");
                    return;
                }
                if (decoded.Type == LogEntryType.Submission) submissions++;
                else revocations++;
                string leaf = Convert.ToHexStringLower(SHA256.HashData(entry));
                if (!seen.TryAdd(leaf, index) && duplicates.Count < 10) duplicates.Add($"{index} = {seen[leaf]}");
            }, progress, cancellationToken))
            return report;
        report.Add(Check.Pass("entries", $"Downloaded all {checkpoint.Size} entries."));
        var root = tree.Root(checkpoint.Size);
        report.Add(root.AsSpan().SequenceEqual(checkpoint.RootHash)
            ? Check.Pass("root", $"The {checkpoint.Size} entries hash to the signed root {Convert.ToBase64String(root)}.")
            : Check.Fail("root", LogErrors.RootMismatch,
                $"The entries the log serves hash to {Convert.ToBase64String(root)}, not the signed root {Convert.ToBase64String(checkpoint.RootHash)}: a stored entry was altered, removed or added."));
        report.Add(malformed.Count == 0
            ? Check.Pass("decode_entries", $"{submissions} submissions and {revocations} revocations, each in the log's encoding.")
            : Check.Fail("decode_entries", LogErrors.MalformedEntry, $"Entries not in the log's encoding: {string.Join("; ", malformed)}."));
        report.Add(duplicates.Count == 0
            ? Check.Pass("no_duplicates", "No entry appears twice.")
            : Check.Fail("no_duplicates", "duplicate_entry", $"Entries logged twice (index = first index): {string.Join(", ", duplicates)}."));
        report.Fact("submissions", submissions);
        report.Fact("revocations", revocations);
        return report;
    }

    /// <summary>The log's newest checkpoint, its signature checked with your key (a "checkpoint_signature" check); null
    /// when unreachable ("cannot check") or not signed by that key.</summary>
    private static async Task<Checkpoint?> LatestCheckpointAsync(LogClient client, NoteVerifierKey key, VerificationReport report, CancellationToken cancellationToken)
    {
        string note;
        try
        {
            note = await client.CheckpointAsync(cancellationToken);
        }
        catch (LogApiException e)
        {
            report.CannotCheck("log_unreachable", e.Message);
            return null;
        }
        return report.Add(ToCheck("checkpoint_signature", LogVerification.VerifyCheckpoint(note, key, out var signed))) ? signed!.Checkpoint : null;
    }

    /// <summary>
    /// Every entry [0, <paramref name="size"/>) the log serves, page by page, each to <paramref name="each"/> in index
    /// order. False (with a failed "entries" check, or "cannot check" when the log is unreachable) when it does not serve
    /// them all; the caller compares what they hash to with a signed root.
    /// </summary>
    private static async Task<bool> ReadEntriesAsync(LogClient client, long size, VerificationReport report, Action<long, byte[]> each,
        IProgress<(long Done, long Total)>? progress, CancellationToken cancellationToken)
    {
        long next = 0;
        while (next < size)
        {
            long start = next, end = Math.Min(size, start + AuditPageSize);
            EntriesAnswer page;
            try
            {
                page = await client.EntriesAsync(start, end, cancellationToken);
            }
            catch (LogApiException e) when (e.Status is not null)
            {
                report.Add(Check.Fail("entries", LogErrors.RootMismatch, $"The log does not serve entries {start}..{end - 1} of the {size} it signed: {e.Message}"));
                return false;
            }
            catch (LogApiException e)
            {
                report.CannotCheck("log_unreachable", e.Message);
                return false;
            }
            if (page.Start != start)
            {
                report.Add(Check.Fail("entries", LogErrors.RootMismatch, $"Asked for entries from {start}; the log answered from {page.Start}."));
                return false;
            }
            if (page.Entries.Length == 0)
            {
                report.Add(Check.Fail("entries", LogErrors.RootMismatch, $"The log signed {size} entries but serves only {start}."));
                return false;
            }
            foreach (string text in page.Entries.Take((int)(end - start)))
            {
                byte[] entry;
                try
                {
                    entry = Convert.FromBase64String(text);
                }
                catch (FormatException)
                {
                    report.Add(Check.Fail("entries", LogErrors.MalformedEntry, $"Entry {next} is not base64."));
                    return false;
                }
                each(next++, entry);
            }
            progress?.Report((next, size));
        }
        return true;
    }

    /// <summary>Adds the inclusion checks; returns the entry when it is proven in a signed tree and is the one asked about.</summary>
    private static async Task<byte[]?> CheckInclusionAsync(LogClient client, NoteVerifierKey key, InclusionTarget target, VerificationReport report, CancellationToken cancellationToken)
    {
        InclusionAnswer answer;
        try
        {
            answer = target switch
            {
                InclusionTarget.ByHash h => await client.InclusionByHashAsync(h.Hash.ToString(), cancellationToken: cancellationToken),
                InclusionTarget.BySubmission s => await client.InclusionByHashAsync(Sha256Hash.Of(s.Wire).ToString(), cancellationToken: cancellationToken),
                InclusionTarget.ByTps t => await client.InclusionByTpsAsync(t.Tps.Value, t.Contest.Slug(), cancellationToken),
                _ => throw new ArgumentOutOfRangeException(nameof(target)),
            };
        }
        catch (LogApiException e) when (e.NotFound)
        {
            report.Add(Check.Fail("in_log", "not_in_log", $"The log has no such entry: {e.Message}"));
            return null;
        }
        catch (LogApiException e)
        {
            report.CannotCheck("log_unreachable", e.Message);
            return null;
        }
        if (answer.Checkpoint is null)
        {
            report.Add(Check.Fail("checkpoint_signature", LogErrors.MalformedCheckpoint, "The log sent the proof without the checkpoint it is for."));
            return null;
        }
        var signature = LogVerification.VerifyCheckpoint(answer.Checkpoint, key, out var checkpoint);
        if (!report.Add(ToCheck("checkpoint_signature", signature))) return null;
        report.Fact("origin", checkpoint!.Checkpoint.Origin);
        report.Fact("leaf_index", answer.LeafIndex);
        report.Fact("tree_size", checkpoint.Checkpoint.Size);
        report.Fact("root", Convert.ToBase64String(checkpoint.Checkpoint.RootHash));

        byte[] entry;
        try
        {
            entry = Convert.FromBase64String(answer.Entry);
        }
        catch (FormatException)
        {
            report.Add(Check.Fail("entry", LogErrors.LeafMismatch, "The log's entry is not base64."));
            return null;
        }
        if (!TryDecodeHashes(answer.Proof, out var proof))
        {
            report.Add(Check.Fail("inclusion_proof", LogErrors.BadProof, "A proof hash is not base64."));
            return null;
        }
        bool proven = report.Add(ToCheck("inclusion_proof", LogVerification.VerifyInclusion(entry, answer.LeafIndex, proof, checkpoint, key, answer.TreeSize)));
        bool asked = report.Add(EntryCheck(entry, target));
        return proven && asked ? entry : null;
    }


    /// <summary>
    /// The signer of a form, as `qr` and `image` check it: its device certificate fetched from the log but trusted only
    /// if it chains to the caller's root, the log's CRL when the caller brought none (its signature decides whether it
    /// counts), then <see cref="SubmissionChecks.CheckSigner"/>. False when the checks cannot go on; the report says why.
    /// </summary>
    private static async Task<bool> CheckSignerFromLogAsync(LogClient client, SignedSubmission signed, TrustAnchors anchors, VerificationReport report, CancellationToken cancellationToken)
    {
        KpuCertificate certificate;
        try
        {
            certificate = KpuCertificate.FromPem(await client.DeviceCertificateAsync(signed.Submission.DeviceId, cancellationToken));
            report.Add(Check.Pass("device_certificate", $"Fetched the signing certificate of {signed.Submission.DeviceId} from the log (trusted only if it chains to your root)."));
        }
        catch (LogApiException e) when (e.NotFound)
        {
            report.Add(Check.Fail("device_certificate", "unknown_device", $"The log knows no device {signed.Submission.DeviceId}: {e.Message}"));
            return false;
        }
        catch (LogApiException e)
        {
            report.CannotCheck("log_unreachable", e.Message);
            return false;
        }
        catch (CertificateFormatException e)
        {
            report.Add(Check.Fail("device_certificate", "malformed_certificate", $"The log's certificate of {signed.Submission.DeviceId} is not a certificate: {e.Message}"));
            return false;
        }

        if (anchors.CrlDer is null)
        {
            // The CRL is signed by the issuing CA, so the log may carry it: a forged one fails its signature check.
            try
            {
                anchors = anchors with { CrlDer = await client.CrlAsync(cancellationToken) };
            }
            catch (LogApiException)
            {
                // No CRL from the log: the revocation check says it was skipped.
            }
        }
        try
        {
            SubmissionChecks.CheckSigner(signed, certificate, anchors, report);
        }
        catch (CertificateFormatException e)
        {
            report.CannotCheck("bad_trust_anchor_file", $"The root or issuing CA file: {e.Message}");
            return false;
        }
        return true;
    }
    /// <summary>The proven entry is the one asked about.</summary>
    private static Check EntryCheck(byte[] entry, InclusionTarget target)
    {
        const string name = "entry";
        if (target is InclusionTarget.BySubmission s) return ToCheck(name, LogVerification.VerifySubmissionEntry(entry, s.Wire));
        if (!LogEntry.TryDecode(entry, out var decoded, out string? error))
            return Check.Fail(name, LogErrors.LeafMismatch, $"The log's entry is not a submission: {error}");
        if (decoded.Submission is not { } submission)
            return Check.Fail(name, LogErrors.LeafMismatch, $"The log's entry is a {decoded.Type.ToString().ToLowerInvariant()}, not a submission.");
        return target switch
        {
            InclusionTarget.ByHash h when submission.Hash != h.Hash =>
                Check.Fail(name, LogErrors.LeafMismatch, $"The log's entry has hash {submission.Hash}, not {h.Hash}."),
            InclusionTarget.ByTps t when submission.Submission.Tps != t.Tps || submission.Submission.Contest != t.Contest =>
                Check.Fail(name, LogErrors.LeafMismatch, $"The log's entry is the {submission.Submission.Contest.Slug()} form of TPS {submission.Submission.Tps}, not {t.Contest.Slug()} of {t.Tps}."),
            _ => Check.Pass(name, $"The entry is the {submission.Submission.Contest.Slug()} submission of TPS {submission.Submission.Tps} with hash {submission.Hash} (device {submission.Submission.DeviceId}, sequence {submission.Submission.Sequence}; its signature is not checked here)."),
        };
    }

    private static Check ToCheck(string name, LogVerificationResult result) =>
        result.Ok ? Check.Pass(name, result.Detail) : Check.Fail(name, result.Error!, result.Detail);

    private static VerificationReport Done(VerificationReport report, Check check)
    {
        report.Add(check);
        return report;
    }

    private static bool TryDecodeHashes(string[]? texts, out IReadOnlyList<byte[]> hashes)
    {
        var list = new List<byte[]>();
        hashes = list;
        foreach (string text in texts ?? [])
        {
            try
            {
                list.Add(Convert.FromBase64String(text));
            }
            catch (FormatException)
            {
                return false;
            }
        }
        return true;
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "…";
}
