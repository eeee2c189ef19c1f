using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Cloud.Ledger;

/// <summary>An accepted submission as the ledger holds it: the exact signed bytes, where they sit, and their log index.</summary>
public sealed record LedgerEntry(
    long Position, Sha256Hash Hash, string DeviceId, ulong Sequence, TpsCode Tps, ContestId Contest,
    DateTimeOffset ReceivedAt, byte[] Wire, long LogIndex);

/// <summary>A submission refused at ingest, kept for audit (the payload itself only by hash).</summary>
public sealed record Rejection(
    DateTimeOffset ReceivedAt, string Topic, string? DeviceId, string Reason, string Detail, Sha256Hash PayloadHash, int Size);

/// <summary>A device certificate the issuing CA revoked, as recorded (and logged) by the cloud.</summary>
public sealed record RevocationRecord(string DeviceId, string SerialHex, DateTimeOffset RevokedAt, string Reason, DateTimeOffset RecordedAt)
{
    /// <summary>The whole transparency-log entry for this revocation (type byte included), encoded by the caller.</summary>
    public byte[] LogEntry { get; init; } = [];
    public long LogIndex { get; init; } = -1;
}

/// <summary>A device's chain with missing links: the sequence numbers below its head that never arrived.</summary>
public sealed record ChainHoles(string DeviceId, string Tps, ulong Head, IReadOnlyList<ulong> Missing, DateTimeOffset LastReceivedAt)
{
    /// <summary>The holes below <paramref name="head"/> in a device's accepted links (the first thousand).</summary>
    public static ChainHoles Of(string deviceId, string tps, ulong head, IReadOnlyList<DeviceLink> links, DateTimeOffset lastReceivedAt)
    {
        var present = links.Select(l => l.Link.Sequence).ToHashSet();
        var missing = new List<ulong>();
        for (ulong n = 1; n < head && missing.Count < 1000; n++)
            if (!present.Contains(n)) missing.Add(n);
        return new ChainHoles(deviceId, tps, head, missing, lastReceivedAt);
    }
}

/// <summary>
/// What changed in device chains after a ledger position: the devices with forms written after it (up to
/// <see cref="Through"/>, the last position read), and those of them whose chains have holes now.
/// </summary>
public sealed record ChainChanges(long Through, IReadOnlyCollection<string> Devices, IReadOnlyList<ChainHoles> Holes)
{
    /// <summary>A changed device's chain as a ledger sums it up: its newest sequence number and how many links it holds.</summary>
    public readonly record struct Summary(string DeviceId, string Tps, ulong Head, long Links, DateTimeOffset LastReceivedAt);

    /// <summary>The changes from the changed devices' summaries; the holes listed from the links of those that lack some.</summary>
    public static async Task<ChainChanges> FromAsync(long through, IReadOnlyList<Summary> changed, Func<string, Task<IReadOnlyList<DeviceLink>>> linksOf)
    {
        var holes = new List<ChainHoles>();
        foreach (var c in changed.Where(c => (ulong)c.Links < c.Head))
            holes.Add(ChainHoles.Of(c.DeviceId, c.Tps, c.Head, await linksOf(c.DeviceId), c.LastReceivedAt));
        return new ChainChanges(through, changed.Select(c => c.DeviceId).ToHashSet(StringComparer.Ordinal), holes);
    }
}

/// <summary>What registering a batch of devices did: how many were written, how many were held already, which were refused.</summary>
public sealed record DeviceRegistration(int Added, int Held, IReadOnlyList<DeviceConflict> Conflicts);

/// <summary>A device offered with a certificate other than the one it is registered with: refused, the registered one kept.</summary>
public sealed record DeviceConflict(string DeviceId, string RegisteredSerialHex, string OfferedSerialHex)
{
    public string Reason =>
        $"device {DeviceId} is registered with signing certificate {RegisteredSerialHex}; another certificate ({OfferedSerialHex}) is refused, never overwrites it";
}

/// <summary>How both ledgers take a batch of devices in: each id once, a second offer of it with another certificate a conflict.</summary>
internal static class DeviceBatch
{
    public static (List<(DeviceRecord Device, KpuCertificate Certificate)> Offered, List<DeviceConflict> Conflicts) Distinct(IReadOnlyList<DeviceRecord> devices)
    {
        var offered = new Dictionary<string, (DeviceRecord Device, KpuCertificate Certificate)>(StringComparer.Ordinal);
        var conflicts = new List<DeviceConflict>();
        foreach (var device in devices)
        {
            var certificate = device.SigningCertificate
                              ?? throw new ArgumentException($"Device {device.DeviceId} has no signing certificate: the registry holds certified devices only.", nameof(devices));
            if (!offered.TryGetValue(device.DeviceId, out var first)) offered[device.DeviceId] = (device, certificate);
            else if (!first.Certificate.Der.AsSpan().SequenceEqual(certificate.Der))
                conflicts.Add(new DeviceConflict(device.DeviceId, first.Certificate.SerialHex, certificate.SerialHex));
        }
        return (offered.Values.ToList(), conflicts);
    }

    /// <summary>A stored device back from its certificate: id, TPS and key are the certificate's.</summary>
    public static DeviceRecord Read(byte[] certificateDer) => DeviceRecord.FromCertificate(KpuCertificate.FromDer(certificateDer));
}

/// <summary>Which revocation list of an issuing CA: the newest wins (CRL number, then this-update time).</summary>
public sealed record CrlVersion(string Issuer, long Number, DateTimeOffset ThisUpdate)
{
    public static CrlVersion Of(RevocationList crl) => new(crl.IssuerCommonName, crl.CrlNumber, crl.ThisUpdate);

    public bool IsNewerThan(CrlVersion other) => Number > other.Number || (Number == other.Number && ThisUpdate > other.ThisUpdate);
}

/// <summary>An installed revocation list as the ledger keeps it: the newest of its issuer, whole.</summary>
public sealed record StoredCrl(CrlVersion Version, byte[] Der)
{
    /// <summary>How both ledgers store one (SQLite and PostgreSQL alike take @ parameters): the newer wins, atomically.</summary>
    internal const string UpsertSql = """
        INSERT INTO crls (issuer, number, this_update, der) VALUES (@issuer, @number, @this_update, @der)
        ON CONFLICT (issuer) DO UPDATE SET number = excluded.number, this_update = excluded.this_update, der = excluded.der
        WHERE excluded.number > crls.number OR (excluded.number = crls.number AND excluded.this_update > crls.this_update)
        """;
}

/// <summary>A form page image received whole and checked against the hash its signed submission names.</summary>
public sealed record StoredImagePage(
    Sha256Hash ImageHash, int Page, int Pages, Sha256Hash PageHash, TpsCode Tps, ContestId Contest, int Size, string Path, DateTimeOffset StoredAt);

/// <summary>A signed checkpoint of the transparency log, as published.</summary>
public sealed record StoredCheckpoint(long Size, byte[] Root, string Note, DateTimeOffset SignedAt);

/// <summary>Everything one group commit writes, in one transaction.</summary>
public sealed record LedgerBatch
{
    public IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> Accepted { get; init; } = [];
    public IReadOnlyList<Rejection> Rejections { get; init; } = [];
    public IReadOnlyList<SecurityEvent> Events { get; init; } = [];
    public IReadOnlyList<RevocationRecord> Revocations { get; init; } = [];
    public IReadOnlyList<StatementRecord> Statements { get; init; } = [];
}

/// <summary>
/// What a commit gave out: ledger positions and log indexes of the accepted submissions and revocations, and the
/// log entries it appended in log order (submissions, then revocations), starting at <see cref="FirstLogIndex"/>.
/// A submission the ledger already holds — the same bytes, or the same device and sequence number, written by another
/// node meanwhile — is not written again: its position and log index are -1 and its index is in <see cref="Conflicts"/>,
/// so whoever decided it can look again. A revocation the ledger already holds (the same certificate serial: two nodes
/// installed the same revocation list) is not logged again either: its log index is the one it has, and its entry is not
/// among <see cref="LogEntries"/>.
/// </summary>
public sealed record LedgerCommit(
    IReadOnlyList<long> Positions, IReadOnlyList<long> SubmissionLogIndexes, IReadOnlyList<long> RevocationLogIndexes,
    long FirstLogIndex, IReadOnlyList<byte[]> LogEntries)
{
    public IReadOnlySet<int> Conflicts { get; init; } = new HashSet<int>();

    /// <summary>
    /// Log indexes of the batch's PPK statements (logged after its submissions and revocations); -1 for one the ledger
    /// held already (same bytes, or the same station and sequence number), whose index is then in <see cref="StatementConflicts"/>.
    /// </summary>
    public IReadOnlyList<long> StatementLogIndexes { get; init; } = [];
    public IReadOnlySet<int> StatementConflicts { get; init; } = new HashSet<int>();

    /// <summary>The log size this commit left behind (its last entry's index + 1).</summary>
    public long LogEnd => FirstLogIndex + LogEntries.Count;
}

/// <summary>
/// An accepted link of a device's chain as the ledger holds it: what the device signed about its history, the form it
/// belongs to, and where it sits. Its device's grain decides duplicates, forks, rewinds and corrections from these.
/// </summary>
public sealed record DeviceLink(ChainLink Link, TpsCode Tps, ContestId Contest, long Position, long LogIndex);

/// <summary>
/// The write side of the ledger: one batch, one durable transaction. Several nodes may append at once; the ledger
/// allocates positions and log indexes inside the transaction, gapless and in commit order.
/// </summary>
public interface ILedgerWriter
{
    /// <summary>Appends a batch in one durable transaction; accepted submissions and revocations also become log entries.</summary>
    Task<LedgerCommit> AppendAsync(LedgerBatch batch, CancellationToken cancellationToken = default);

    /// <summary>Records security events on their own (the broker's); returns them with their ids.</summary>
    Task<IReadOnlyList<SecurityEvent>> AppendEventsAsync(IReadOnlyList<SecurityEvent> events, CancellationToken cancellationToken = default);
}

/// <summary>Accepted forms, as the recap and the public API read them.</summary>
public interface IFormReader
{
    /// <summary>The accepted submission with these wire bytes' hash, if any.</summary>
    Task<LedgerEntry?> FindByHashAsync(Sha256Hash hash, CancellationToken cancellationToken = default);

    /// <summary>The accepted submission at this ledger position, if any.</summary>
    Task<LedgerEntry?> FindByPositionAsync(long position, CancellationToken cancellationToken = default);

    /// <summary>Accepted submissions in the ledger.</summary>
    Task<long> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>Every accepted submission in ledger order.</summary>
    IAsyncEnumerable<LedgerEntry> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>All accepted versions for a TPS (every contest), oldest first.</summary>
    Task<IReadOnlyList<LedgerEntry>> ForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default);

    /// <summary>How many versions of one TPS's contest form were accepted.</summary>
    Task<long> VersionCountAsync(TpsCode tps, ContestId contest, CancellationToken cancellationToken = default);

    /// <summary>
    /// The newest <paramref name="count"/> versions of one TPS's contest form in the recap's order (<see cref="FormVersion"/>:
    /// sequence, then ledger position), so the last is the version the recap counts. Read from an index, not the whole history.
    /// </summary>
    Task<IReadOnlyList<LedgerEntry>> NewestVersionsAsync(TpsCode tps, ContestId contest, int count, CancellationToken cancellationToken = default);

    /// <summary>Up to <paramref name="limit"/> versions of one TPS's contest form following <paramref name="after"/> (from the first when null), in the recap's order.</summary>
    Task<IReadOnlyList<LedgerEntry>> VersionsAfterAsync(TpsCode tps, ContestId contest, FormVersion? after, int limit, CancellationToken cancellationToken = default);

    /// <summary>Every TPS with at least one accepted submission.</summary>
    Task<IReadOnlyList<TpsCode>> ReportingTpsAsync(CancellationToken cancellationToken = default);

    /// <summary>All accepted versions of every TPS in a desa, oldest first (a desa's recap rebuilt from the ledger).</summary>
    Task<IReadOnlyList<LedgerEntry>> ForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default);

    /// <summary>The children of a region (above desa) with at least one accepted submission under them.</summary>
    Task<IReadOnlyList<RegionCode>> ReportingChildrenAsync(RegionCode region, CancellationToken cancellationToken = default);
}

/// <summary>Device chains: what one device's grain loads, and where chains have holes.</summary>
public interface IDeviceChains
{
    /// <summary>Every accepted link of one device's chain, by sequence.</summary>
    Task<IReadOnlyList<DeviceLink>> DeviceLinksAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The devices with forms written after ledger position <paramref name="afterPosition"/>, and which of them have holes
    /// below their newest sequence number (where a signed form is missing): a sweep reads only what changed since the last.
    /// </summary>
    Task<ChainChanges> ChainsChangedAfterAsync(long afterPosition, CancellationToken cancellationToken = default);
}

/// <summary>
/// The device registry, shared by every node: each TPS device's signing certificate (checked against KPU's CA by the
/// caller before), found by device id or by certificate serial. Registering is idempotent, one transaction per batch;
/// a device id is never given another certificate.
/// </summary>
public interface IDeviceDirectory
{
    /// <summary>
    /// Registers devices (each with its signing certificate). A device held with the same certificate is left as it is; one
    /// held with another certificate, or offered twice in the batch with different ones, is a conflict: not written, the
    /// registered certificate kept. The rest are written.
    /// </summary>
    Task<DeviceRegistration> RegisterDevicesAsync(IReadOnlyList<DeviceRecord> devices, CancellationToken cancellationToken = default);

    /// <summary>The registered devices among these ids (by an index, whatever the registry's size).</summary>
    Task<IReadOnlyList<DeviceRecord>> FindDevicesAsync(IReadOnlyCollection<string> deviceIds, CancellationToken cancellationToken = default);

    /// <summary>The registered devices whose signing certificates have these serials (lower-case hex).</summary>
    Task<IReadOnlyList<DeviceRecord>> DevicesWithCertificatesAsync(IReadOnlyCollection<string> serialHexes, CancellationToken cancellationToken = default);

    Task<long> DeviceCountAsync(CancellationToken cancellationToken = default);
}

/// <summary>The installed revocation lists, shared by every node: the newest of each issuing CA.</summary>
public interface IRevocationLists
{
    /// <summary>
    /// Stores <paramref name="crl"/> if it is newer than the one held for its issuer (<see cref="CrlVersion.IsNewerThan"/>);
    /// false, and the held one stays, if it is not. Atomic: of nodes storing at once, the newest wins.
    /// </summary>
    Task<bool> SaveCrlAsync(StoredCrl crl, CancellationToken cancellationToken = default);

    /// <summary>Which list of each issuer is held (cheap: what a node polls).</summary>
    Task<IReadOnlyList<CrlVersion>> CrlVersionsAsync(CancellationToken cancellationToken = default);

    /// <summary>The list held for an issuer, whole.</summary>
    Task<StoredCrl?> CrlAsync(string issuer, CancellationToken cancellationToken = default);
}

/// <summary>The transparency log's entries and its published checkpoints.</summary>
public interface ILogStore
{
    /// <summary>Number of entries in the transparency log (what every node has committed, not what one node has seen).</summary>
    Task<long> LogCountAsync(CancellationToken cancellationToken = default);

    /// <summary>Transparency-log entries [start, end) in log order (the exact bytes that were hashed).</summary>
    IAsyncEnumerable<byte[]> ReadLogAsync(long start, long end, CancellationToken cancellationToken = default);

    /// <summary>Records a published checkpoint (idempotent for the same size).</summary>
    Task SaveCheckpointAsync(StoredCheckpoint checkpoint, CancellationToken cancellationToken = default);

    Task<StoredCheckpoint?> LatestCheckpointAsync(CancellationToken cancellationToken = default);
}

/// <summary>What the cloud refused and noticed: revocations, security events, refusals by reason.</summary>
public interface IAuditTrail
{
    Task<IReadOnlyList<RevocationRecord>> RevocationsAsync(CancellationToken cancellationToken = default);

    Task<IReadOnlyList<SecurityEvent>> SecurityEventsAsync(long afterId, int limit, CancellationToken cancellationToken = default);

    /// <summary>Refusals recorded, by reason: running counters kept in the same transactions as the refusals (no count over the table).</summary>
    Task<IReadOnlyDictionary<string, long>> RejectionCountsAsync(CancellationToken cancellationToken = default);
}

/// <summary>Form page images: which forms name them, and the pages stored.</summary>
public interface IImageIndex
{
    /// <summary>
    /// The devices whose accepted submissions of this TPS and contest name this image hash: only such images are taken,
    /// and only from those devices (or a station relaying for them). Empty when no accepted form names it.
    /// </summary>
    Task<IReadOnlyList<string>> ImageSignersAsync(TpsCode tps, ContestId contest, Sha256Hash imageHash, CancellationToken cancellationToken = default);

    /// <summary>Records a stored page (idempotent).</summary>
    Task RecordImagePageAsync(StoredImagePage page, CancellationToken cancellationToken = default);

    /// <summary>The stored pages of a form image, in page order.</summary>
    Task<IReadOnlyList<StoredImagePage>> ImagePagesAsync(Sha256Hash imageHash, CancellationToken cancellationToken = default);

    /// <summary>Every stored page of a TPS's forms.</summary>
    Task<IReadOnlyList<StoredImagePage>> ImagesForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default);

    /// <summary>Every stored page of the forms of a desa's TPS, by TPS (one query where the public tree writes a desa).</summary>
    Task<IReadOnlyList<StoredImagePage>> ImagesForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default);

    /// <summary>The TPS and contests with a page stored at or after <paramref name="since"/> (the public tree lists their photos again).</summary>
    Task<IReadOnlyList<(TpsCode Tps, ContestId Contest)>> FormsWithImagesStoredSinceAsync(DateTimeOffset since, CancellationToken cancellationToken = default);
}

/// <summary>
/// The results ledger: the durable, append-only source of truth for accepted forms, PPK statements, the transparency
/// log's entries, revocations and security events — and what every node must share: the device registry and the revocation lists.
/// Everything else (grains, Merkle tree, API) is a projection of it. Two
/// implementations: <see cref="SqliteLedger"/> (one node: the demo, most tests) and <see cref="PostgresLedger"/>
/// (a cluster: every node writes to it). Each part of the cloud asks for the narrow interface it needs.
/// </summary>
public interface IResultsLedger : ILedgerWriter, IFormReader, IDeviceChains, ILogStore, IAuditTrail, IImageIndex, IDeviceDirectory,
    IRevocationLists, IPpkRecord, IAsyncDisposable
{
}
