using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Ledger;

/// <summary>An accepted submission as the ledger holds it: the exact signed bytes and where they sit.</summary>
public sealed record LedgerEntry(
    long Position, Sha256Hash Hash, string DeviceId, ulong Sequence, TpsCode Tps, ContestId Contest,
    DateTimeOffset ReceivedAt, byte[] Wire);

/// <summary>A submission refused at ingest, kept for audit (the payload itself only by hash).</summary>
public sealed record Rejection(
    DateTimeOffset ReceivedAt, string Topic, string? DeviceId, string Reason, string Detail, Sha256Hash PayloadHash, int Size);

/// <summary>The newest accepted submission of a device: where its chain stands.</summary>
public sealed record DeviceHead(ulong Sequence, Sha256Hash Hash);

/// <summary>
/// The results ledger: the durable, append-only source of truth for accepted forms. Everything else (grains,
/// API) is a projection of it. SQLite by default; PostgreSQL in production (a later step).
/// </summary>
public interface IResultsLedger : IDisposable
{
    /// <summary>Appends accepted submissions and rejections in one durable transaction; returns the positions given.</summary>
    IReadOnlyList<long> Append(IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> accepted, IReadOnlyList<Rejection> rejections);

    long? FindPosition(Sha256Hash hash);

    /// <summary>The accepted submission a device signed with this sequence number, if any.</summary>
    (long Position, Sha256Hash Hash)? FindBySequence(string deviceId, ulong sequence);

    long Count { get; }

    /// <summary>Every accepted submission in ledger order.</summary>
    IEnumerable<LedgerEntry> ReadAll();

    /// <summary>All accepted versions for a TPS (every contest), oldest first.</summary>
    IReadOnlyList<LedgerEntry> ForTps(TpsCode tps);

    /// <summary>The newest accepted sequence and hash of every device.</summary>
    IReadOnlyDictionary<string, DeviceHead> DeviceHeads();

    IReadOnlyDictionary<string, long> RejectionCounts();

    /// <summary>Every TPS with at least one accepted submission.</summary>
    IReadOnlyList<TpsCode> ReportingTps();
}
