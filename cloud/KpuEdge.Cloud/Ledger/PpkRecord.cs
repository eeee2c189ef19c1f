using KpuEdge.Cloud.Ingest;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;

namespace KpuEdge.Cloud.Ledger;

/// <summary>A PPK statement to write: the station's signed bytes, when they came, and what the cloud found checking them.</summary>
/// <param name="Finding">For a D.Hasil, the cloud's comparison with its own sum of the same forms; null otherwise.</param>
public sealed record StatementRecord(SignedPpkStatement Signed, DateTimeOffset ReceivedAt, string? Finding = null);

/// <summary>A PPK statement as the ledger holds it (the exact signed bytes, logged at <see cref="LogIndex"/>).</summary>
public sealed record StoredStatement(
    Sha256Hash Hash, string Station, ulong Sequence, PpkStatementKind Kind, RegionCode Kecamatan, DateTimeOffset ReceivedAt,
    byte[] Wire, long LogIndex, string? Finding)
{
    private SignedPpkStatement? _signed;

    /// <summary>The statement decoded (it was checked before it was written).</summary>
    public SignedPpkStatement Signed => _signed ??= SignedPpkStatement.Decode(Wire);
}

/// <summary>An accepted link of a PPK station's chain of statements.</summary>
public sealed record StationLink(ChainLink Link, long LogIndex);

/// <summary>What PPK stations stated, as the station grains, the recap and the public API read it.</summary>
public interface IPpkRecord
{
    /// <summary>Every accepted link of one station's chain, by sequence.</summary>
    Task<IReadOnlyList<StationLink>> StationLinksAsync(string station, CancellationToken cancellationToken = default);

    Task<StoredStatement?> FindStatementAsync(Sha256Hash hash, CancellationToken cancellationToken = default);

    /// <summary>Every statement of a kecamatan's station(s), in log order.</summary>
    Task<IReadOnlyList<StoredStatement>> StatementsForKecamatanAsync(RegionCode kecamatan, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every verification, objection and correction naming a form of this TPS, in log order. Not the D.Hasil that sum it:
    /// a TPS's page must not read its kecamatan's whole recap (<see cref="StatementsForKecamatanAsync"/> has those).
    /// </summary>
    Task<IReadOnlyList<StoredStatement>> StatementsForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default);

    /// <summary>The PPK corrections of every TPS of a desa, in log order (a desa's recap rebuilt from the ledger).</summary>
    Task<IReadOnlyList<StoredStatement>> CorrectionsForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default);
}

/// <summary>How both ledgers store statements: the same tables and queries (SQLite and PostgreSQL alike take @ parameters).</summary>
internal static class PpkSql
{
    public const string Columns = "hash, station, sequence, kind, kecamatan, received_at, wire, log_index, finding";

    /// <summary>The forms a statement names, for the TPS page and the recap: one row per form (a D.Hasil, one per TPS).</summary>
    public static IEnumerable<(string Tps, int Contest, byte[] FormHash)> FormRows(SignedPpkStatement s) =>
        s.Statement.Forms.Select(f => (f.Tps.Value, (int)f.Contest, f.Hash.ToArray()));

    public const string ForKecamatan = $"SELECT {Columns} FROM ppk_statements WHERE kecamatan = @kecamatan ORDER BY log_index";

    public const string ForTps = $"""
        SELECT {Columns} FROM ppk_statements WHERE hash IN (SELECT statement_hash FROM ppk_statement_forms WHERE tps = @tps AND kind <> 4)
        ORDER BY log_index
        """;

    public const string CorrectionsForDesa = $"""
        SELECT {Columns} FROM ppk_statements WHERE hash IN (
            SELECT statement_hash FROM ppk_statement_forms WHERE tps >= @from AND tps < @to AND kind = @kind)
        ORDER BY log_index
        """;

    public const string Find = $"SELECT {Columns} FROM ppk_statements WHERE hash = @hash";

    public const string Links = "SELECT sequence, hash, prev_hash, station_time, log_index FROM ppk_statements WHERE station = @station ORDER BY sequence";

    /// <summary>The TPS code range of a desa: [desa‖"000", desa‖":") in text order.</summary>
    public static (string From, string To) DesaRange(RegionCode desa) => (desa.Value + "000", desa.Value + ":");
}
