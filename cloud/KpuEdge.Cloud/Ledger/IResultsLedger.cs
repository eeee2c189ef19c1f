using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;

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
public sealed record ChainHoles(string DeviceId, string Tps, ulong Head, IReadOnlyList<ulong> Missing, DateTimeOffset LastReceivedAt);

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
}

/// <summary>
/// What a commit gave out: ledger positions and log indexes of the accepted submissions and revocations, and the
/// log entries it appended in log order (submissions, then revocations), starting at <see cref="FirstLogIndex"/>.
/// </summary>
public sealed record LedgerCommit(
    IReadOnlyList<long> Positions, IReadOnlyList<long> SubmissionLogIndexes, IReadOnlyList<long> RevocationLogIndexes,
    long FirstLogIndex, IReadOnlyList<byte[]> LogEntries);

/// <summary>
/// The results ledger: the durable, append-only source of truth for accepted forms, the transparency log's entries,
/// revocations and security events. Everything else (grains, Merkle tree, API) is a projection of it.
/// SQLite by default; PostgreSQL in production (a later step).
/// </summary>
public interface IResultsLedger : IDisposable
{
    /// <summary>Appends a batch in one durable transaction; accepted submissions and revocations also become log entries.</summary>
    LedgerCommit Append(LedgerBatch batch);

    /// <summary>Records security events on their own (the broker's); returns them with their ids.</summary>
    IReadOnlyList<SecurityEvent> AppendEvents(IReadOnlyList<SecurityEvent> events);

    /// <summary>The accepted submission with these wire bytes' hash, if any.</summary>
    LedgerEntry? FindByHash(Sha256Hash hash);

    /// <summary>The accepted submission at this ledger position, if any.</summary>
    LedgerEntry? FindByPosition(long position);

    long Count { get; }

    /// <summary>Number of entries in the transparency log.</summary>
    long LogCount { get; }

    /// <summary>Every accepted submission in ledger order.</summary>
    IEnumerable<LedgerEntry> ReadAll();

    /// <summary>All accepted versions for a TPS (every contest), oldest first.</summary>
    IReadOnlyList<LedgerEntry> ForTps(TpsCode tps);

    /// <summary>How many versions of one TPS's contest form were accepted.</summary>
    long VersionCount(TpsCode tps, ContestId contest);

    /// <summary>
    /// The newest <paramref name="count"/> versions of one TPS's contest form in the recap's order (<see cref="FormVersion"/>:
    /// sequence, then ledger position), so the last is the version the recap counts. Read from an index, not the whole history.
    /// </summary>
    IReadOnlyList<LedgerEntry> NewestVersions(TpsCode tps, ContestId contest, int count);

    /// <summary>Up to <paramref name="limit"/> versions of one TPS's contest form following <paramref name="after"/> (from the first when null), in the recap's order.</summary>
    IReadOnlyList<LedgerEntry> VersionsAfter(TpsCode tps, ContestId contest, FormVersion? after, int limit);

    /// <summary>The sequence numbers of a device's accepted forms for one TPS and contest (to tell a correction).</summary>
    IReadOnlyList<ulong> SequencesFor(string deviceId, TpsCode tps, ContestId contest);

    /// <summary>The newest accepted link of every device's chain.</summary>
    IReadOnlyDictionary<string, ChainLink> DeviceHeads();

    /// <summary>A device's accepted links with sequence numbers in [from, to].</summary>
    IReadOnlyList<ChainLink> ChainLinks(string deviceId, ulong from, ulong to);

    /// <summary>Devices whose accepted sequence numbers have holes below their newest: where a signed form is missing.</summary>
    IReadOnlyList<ChainHoles> DevicesWithHoles();

    /// <summary>Transparency-log entries [start, end) in log order (the exact bytes that were hashed).</summary>
    IEnumerable<byte[]> ReadLog(long start, long end);

    void SaveCheckpoint(StoredCheckpoint checkpoint);

    StoredCheckpoint? LatestCheckpoint();

    IReadOnlyList<RevocationRecord> Revocations();

    IReadOnlyList<SecurityEvent> SecurityEvents(long afterId, int limit);

    IReadOnlyDictionary<string, long> RejectionCounts();

    /// <summary>Every TPS with at least one accepted submission.</summary>
    IReadOnlyList<TpsCode> ReportingTps();

    /// <summary>
    /// The devices whose accepted submissions of this TPS and contest name this image hash: only such images are taken,
    /// and only from those devices (or a station relaying for them). Empty when no accepted form names it.
    /// </summary>
    IReadOnlyList<string> ImageSigners(TpsCode tps, ContestId contest, Sha256Hash imageHash);

    /// <summary>Records a stored page (idempotent).</summary>
    void RecordImagePage(StoredImagePage page);

    /// <summary>The stored pages of a form image, in page order.</summary>
    IReadOnlyList<StoredImagePage> ImagePages(Sha256Hash imageHash);

    /// <summary>Every stored page of a TPS's forms.</summary>
    IReadOnlyList<StoredImagePage> ImagesForTps(TpsCode tps);
}
