using System.Globalization;
using System.Text.RegularExpressions;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Crypto.Transparency;
using nietras.SeparatedValues;

namespace KpuEdge.Verify;

/// <summary>
/// A CSV export of the public tree (<c>GET /api/v1/export/csv/{contest}/{region}</c>), read back: the contest, region and
/// row level its first comment line names, the newest checkpoint (size and root) its second names, what each choice
/// column is (<c># {key} = {ballot number} {name}</c>; a DPD column's key is its candidate's key), and its rows, each
/// with the log size it is the count at (its <c>checkpoint</c> column, at most the newest).
/// </summary>
public sealed record CsvExportFile(ContestId Contest, RegionCode Region, RegionLevel Level, long Size, byte[] Root,
    IReadOnlyList<CsvExportFile.Column> Choices, IReadOnlyList<CsvExportFile.Row> Rows)
{
    /// <summary>A choice column: its public key (the header's) and the recap key its votes are counted under.</summary>
    public sealed record Column(string PublicKey, string RecapKey);

    /// <summary>A row: its region (or TPS) code, every number column by name (a blank cell, nothing counted, is null), and
    /// the log size it is the count at.</summary>
    public sealed record Row(string Code, IReadOnlyDictionary<string, long?> Numbers, long Size);

    /// <summary>The administrative columns, in file order, that the log decides.</summary>
    public static readonly string[] Administrative = ["suara_sah", "suara_tidak_sah", "suara_total", "pemilih_dpt_j", "pengguna_total_j", "tps_dilaporkan"];

    private static readonly Regex Title = new(@"^# KpuEdge \S+ (?<contest>[a-z_]+), region (?<region>\d+), level (?<level>[a-z]+)$", RegexOptions.CultureInvariant);
    private static readonly Regex Stamp = new(@"^# checkpoint size=(?<size>\d+) root=(?<root>[0-9a-f]*)(\s|$)", RegexOptions.CultureInvariant);
    private static readonly Regex Label = new(@"^# (?<key>[^ ]+) = (?<label>.*)$", RegexOptions.CultureInvariant);

    public static bool TryParse(string text, out CsvExportFile? export, out string problem)
    {
        export = null;
        var lines = text.Split('\n');
        int header = Array.FindIndex(lines, l => !l.StartsWith('#'));
        if (header < 2)
            return Fail("The file does not start with the export's comment lines (contest, region, level; checkpoint).", out problem);
        var title = Title.Match(lines[0].TrimEnd('\r'));
        var stamp = Stamp.Match(lines[1].TrimEnd('\r'));
        if (!title.Success || !stamp.Success)
            return Fail("The first two lines are not an export's '# KpuEdge … region …, level …' and '# checkpoint size=… root=…'.", out problem);
        if (!Contests.TryParseSlug(title.Groups["contest"].Value, out var contest))
            return Fail($"Unknown contest '{title.Groups["contest"].Value}'.", out problem);
        if (!RegionCode.TryParse(title.Groups["region"].Value, out var region))
            return Fail($"'{title.Groups["region"].Value}' is not a region code.", out problem);
        if (!Enum.TryParse<RegionLevel>(title.Groups["level"].Value, ignoreCase: true, out var level) || level <= region.Level || level > RegionLevel.Tps)
            return Fail($"'{title.Groups["level"].Value}' is not a level below {region}.", out problem);
        long size = long.Parse(stamp.Groups["size"].Value, CultureInfo.InvariantCulture);
        var rootHex = stamp.Groups["root"].Value;
        if (size > 0 && rootHex.Length != 64)
            return Fail($"The checkpoint's root '{rootHex}' is not a SHA-256 hash.", out problem);

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines[2..header])
            if (Label.Match(line.TrimEnd('\r')) is { Success: true } m) labels[m.Groups["key"].Value] = m.Groups["label"].Value;

        var choices = new List<Column>();
        var rows = new List<Row>();
        try
        {
            using var reader = Sep.New(',').Reader(o => o with { Unescape = true, CultureInfo = CultureInfo.InvariantCulture })
                .FromText(string.Join('\n', lines[header..]));
            var names = reader.Header.ColNames;
            if (names.Count < 2 + Administrative.Length || names[0] != "kode" || names[1] != "nama"
                || !Administrative.All(a => names.Contains(a)) || !names.Contains("checkpoint"))
                return Fail($"The header is not kode,nama,<choices>,{string.Join(',', Administrative)},tps_total,checkpoint.", out problem);
            foreach (var key in names.Skip(2).TakeWhile(n => n != Administrative[0]))
            {
                // A pair's or party's column names its ballot number first in its label; a DPD candidate's key is its recap key.
                string? recapKey = contest == ContestId.Dpd ? key
                    : labels.TryGetValue(key, out var label) && label.Split(' ')[0] is var number && int.TryParse(number, out _) ? number : null;
                if (recapKey is null) return Fail($"No '# {key} = <number> <name>' line says which choice column {key} is.", out problem);
                choices.Add(new Column(key, recapKey));
            }
            foreach (var row in reader)
            {
                var numbers = new Dictionary<string, long?>(StringComparer.Ordinal);
                foreach (var name in choices.Select(c => c.PublicKey).Concat(Administrative))
                {
                    var cell = row[name].Span;
                    if (cell.IsEmpty) numbers[name] = null;
                    else if (long.TryParse(cell, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) numbers[name] = n;
                    else return Fail($"Line {row.LineNumberFrom}: '{cell}' in column {name} is not a count.", out problem);
                }
                if (!long.TryParse(row["checkpoint"].Span, NumberStyles.None, CultureInfo.InvariantCulture, out long rowSize) || rowSize > size)
                    return Fail($"Line {row.LineNumberFrom}: checkpoint '{row["checkpoint"].Span}' is not a log size up to the export's {size}.", out problem);
                rows.Add(new Row(row["kode"].ToString(), numbers, rowSize));
            }
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or KeyNotFoundException)
        {
            return Fail($"Not a readable CSV: {e.Message}", out problem);
        }
        export = new CsvExportFile(contest, region, level, size, size == 0 ? [] : Convert.FromHexString(rootHex), choices, rows);
        problem = "";
        return true;
    }

    private static bool Fail(string message, out string problem)
    {
        problem = message;
        return false;
    }
}

public sealed partial class Verifier
{
    /// <summary>
    /// `kpu-verify export`: a CSV export against the log. The checkpoint it names must be the log's own — the entries
    /// the log serves up to its size hash to its root, and that tree is proven a prefix of the newest checkpoint signed
    /// with your key — and every row must be what the entries before its own size (its <c>checkpoint</c> column) count:
    /// per TPS the newest version of the device's form (by sequence, then log order), or the PPK's newest plenary
    /// correction of it, summed into the row's region.
    /// Signatures are not checked here (<c>audit</c>, <c>inclusion</c> and <c>dhasil</c> do); TPS totals come from
    /// KPU's registry, not the log.
    /// </summary>
    public async Task<VerificationReport> VerifyExportAsync(Uri log, NoteVerifierKey key, string csv,
        IProgress<(long Done, long Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("export");
        if (!CsvExportFile.TryParse(csv, out var export, out var problem))
            return Done(report, Check.Fail("export_format", "bad_export", problem));
        report.Add(Check.Pass("export_format", $"A {export!.Contest.Slug()} export of region {export.Region}, one row per {export.Level.ToString().ToLowerInvariant()}, {export.Rows.Count} rows, at checkpoint size {export.Size}."));
        report.Fact("contest", export.Contest.Slug());
        report.Fact("region", export.Region.Value);
        report.Fact("level", export.Level.ToString().ToLowerInvariant());
        report.Fact("checkpoint_size", export.Size);
        report.Fact("rows", export.Rows.Count);

        var client = new LogClient(http, log);
        if (await LatestCheckpointAsync(client, key, report, cancellationToken) is not { } latest) return report;
        if (export.Size > latest.Size)
            return Done(report, Check.Fail("checkpoint", LogErrors.RootMismatch, $"The export names a tree of {export.Size} entries; the newest signed checkpoint has {latest.Size}."));

        // The entries up to the export's checkpoint, counted as the recap counts them.
        var tree = new MerkleTree();
        var count = new ExportCount(export);
        if (!await ReadEntriesAsync(client, export.Size, report, (index, entry) =>
            {
                tree.Append(entry);
                count.Add(index, entry);
            }, progress, cancellationToken))
            return report;
        report.Add(Check.Pass("entries", $"Downloaded the {export.Size} entries up to the export's checkpoint."));
        if (export.Size > 0)
        {
            var root = tree.Root(export.Size);
            if (!report.Add(root.AsSpan().SequenceEqual(export.Root)
                    ? Check.Pass("root", $"The {export.Size} entries hash to the export's root {Convert.ToHexStringLower(root)}.")
                    : Check.Fail("root", LogErrors.RootMismatch, $"The {export.Size} entries the log serves hash to {Convert.ToHexStringLower(root)}, not the export's root {Convert.ToHexStringLower(export.Root)}.")))
                return report;
        }
        if (!report.Add(await ProveConsistencyAsync(client, export, latest, cancellationToken))) return report;

        var mismatches = count.Finish();
        report.Fact("forms_counted", count.FormsCounted);
        report.Fact("ppk_corrections_counted", count.CorrectionsCounted);
        report.Add(mismatches.Count == 0
            ? Check.Pass("numbers", $"Every row equals the log's count: {count.FormsCounted} TPS forms ({count.CorrectionsCounted} as corrected by their PPK) in {export.Rows.Count} rows.")
            : Check.Fail("numbers", "export_mismatch", $"{mismatches.Count} differences from the log's count: {string.Join("; ", mismatches.Take(10))}{(mismatches.Count > 10 ? "; …" : "")}."));
        report.Add(Check.Skip("tps_total", "The TPS expected per region come from KPU's registry, not the log: not checked."));
        return report;
    }

    /// <summary>The export's tree (size, root) is a prefix of the signed one: equal, or proven by the log's consistency proof.</summary>
    private static async Task<Check> ProveConsistencyAsync(LogClient client, CsvExportFile export, Checkpoint latest, CancellationToken cancellationToken)
    {
        if (export.Size == 0) return Check.Pass("checkpoint", "The export names the empty tree.");
        if (export.Size == latest.Size)
            return export.Root.AsSpan().SequenceEqual(latest.RootHash)
                ? Check.Pass("checkpoint", $"The export's checkpoint is the newest signed one ({latest.Size} entries).")
                : Check.Fail("checkpoint", LogErrors.RootMismatch, $"The export's root differs from the signed root of the same size {latest.Size}: a split view.");
        ConsistencyAnswer answer;
        try
        {
            answer = await client.ConsistencyAsync(export.Size, latest.Size, cancellationToken);
        }
        catch (LogApiException e)
        {
            return Check.Fail("checkpoint", LogErrors.BadProof, $"The log gives no consistency proof from {export.Size} to {latest.Size}: {e.Message}");
        }
        if (!TryDecodeHashes(answer.Proof, out var proof) || !MerkleProof.VerifyConsistency(export.Size, latest.Size, export.Root, latest.RootHash, proof))
            return Check.Fail("checkpoint", LogErrors.BadProof, $"The export's tree of {export.Size} entries is not proven a prefix of the signed tree of {latest.Size}.");
        return Check.Pass("checkpoint", $"The export's tree of {export.Size} entries is a prefix of the signed tree of {latest.Size} (consistency proof checked).");
    }

    /// <summary>
    /// The log's entries counted into an export's rows: as the entries stream past in index order, each row is compared
    /// with the count of the entries before its own size (the state the file it came from was written at).
    /// </summary>
    private sealed class ExportCount
    {
        private readonly CsvExportFile _export;
        private readonly Dictionary<TpsCode, (ulong Sequence, long Index, SignedSubmission Form)> _newest = [];
        private readonly Dictionary<TpsCode, List<SignedPpkStatement>> _statements = [];
        private readonly Queue<IGrouping<long, CsvExportFile.Row>> _due;
        private readonly List<string> _differences = [];

        public ExportCount(CsvExportFile export)
        {
            _export = export;
            _due = new(export.Rows.GroupBy(r => r.Size).OrderBy(g => g.Key));
            Reach(0);
        }

        public int FormsCounted { get; private set; }
        public int CorrectionsCounted { get; private set; }

        public void Add(long index, byte[] entry)
        {
            Reach(index);
            if (!LogEntry.TryDecode(entry, out var decoded, out _)) return; // `audit` reports undecodable entries
            if (decoded.Submission is { } signed)
            {
                var s = signed.Submission;
                if (s.Contest != _export.Contest || !_export.Region.Contains(s.Tps.Region)) return;
                if (!_newest.TryGetValue(s.Tps, out var held) || (s.Sequence, index).CompareTo((held.Sequence, held.Index)) > 0)
                    _newest[s.Tps] = (s.Sequence, index, signed);
            }
            else if (decoded.Statement is { Statement: not KecamatanRecap } statement)
            {
                foreach (var tps in statement.Statement.Forms.Where(f => f.Contest == _export.Contest && _export.Region.Contains(f.Tps.Region))
                             .Select(f => f.Tps).Distinct())
                    (_statements.TryGetValue(tps, out var list) ? list : _statements[tps] = []).Add(statement);
            }
        }

        /// <summary>After the last entry: the rows at the export's own size, rows missing, votes without a column; a line per difference.</summary>
        public List<string> Finish()
        {
            var sums = Count(out int forms, out int corrections);
            (FormsCounted, CorrectionsCounted) = (forms, corrections);
            while (_due.TryDequeue(out var rows)) Compare(rows, sums);
            var listed = _export.Rows.Select(r => r.Code).ToHashSet(StringComparer.Ordinal);
            foreach (var missing in sums.Keys.Where(code => !listed.Contains(code)).Order(StringComparer.Ordinal))
                _differences.Add($"{missing} has {sums[missing]["tps_dilaporkan"]} counted forms but no row");
            // Votes for a choice no column shows (a count the export left out).
            var shown = _export.Choices.Select(c => c.RecapKey).Concat(CsvExportFile.Administrative).ToHashSet(StringComparer.Ordinal);
            foreach (var (code, sum) in sums.OrderBy(s => s.Key, StringComparer.Ordinal))
                foreach (var (choice, votes) in sum.Where(v => !shown.Contains(v.Key) && v.Value != 0))
                    _differences.Add($"{code}: {votes} votes for choice {choice}, which has no column");
            return _differences;
        }

        /// <summary>The entries before <paramref name="size"/> are counted: the rows at that size are compared now.</summary>
        private void Reach(long size)
        {
            if (!_due.TryPeek(out var next) || next.Key != size) return;
            var rows = _due.Dequeue().ToList();
            // Only the TPS of these rows are counted now (an export of desa rows holds a checkpoint per kecamatan file).
            var sums = Count(out _, out _, rows.Select(r => r.Code).ToHashSet(StringComparer.Ordinal));
            Compare(rows, sums);
        }

        /// <summary>
        /// Each row's sums of the forms counted so far (of the rows in <paramref name="only"/> when given): per TPS its
        /// newest version, or the PPK's correction of it.
        /// </summary>
        private Dictionary<string, Dictionary<string, long>> Count(out int forms, out int corrections, HashSet<string>? only = null)
        {
            forms = corrections = 0;
            var sums = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
            foreach (var (tps, newest) in _newest)
            {
                string row = _export.Level == RegionLevel.Tps ? tps.Value : tps.Region.AncestorAt(_export.Level).Value;
                if (only is not null && !only.Contains(row)) continue;
                var status = PpkFormStatus.Of(tps, _export.Contest, newest.Form.Hash, _statements.GetValueOrDefault(tps) ?? [], x => x);
                ITallyNumbers tally = status.Correction?.Tally ?? newest.Form.Submission.Tally;
                forms++;
                if (status.CountedByPpk) corrections++;
                var sum = sums.TryGetValue(row, out var held) ? held : sums[row] = new(StringComparer.Ordinal);
                foreach (var choice in tally.Suara)
                {
                    string recapKey = _export.Contest == ContestId.Dpd ? $"{tps.Value[..2]}-{choice.Number:D2}" : choice.Number.ToString(CultureInfo.InvariantCulture);
                    Increase(sum, recapKey, choice.Total);
                }
                Increase(sum, "suara_sah", tally.SuaraSah);
                Increase(sum, "suara_tidak_sah", tally.SuaraTidakSah);
                Increase(sum, "suara_total", tally.SuaraTotal);
                Increase(sum, "pemilih_dpt_j", tally.Dpt.Total);
                Increase(sum, "pengguna_total_j", tally.PenggunaTotal.Total);
                Increase(sum, "tps_dilaporkan", 1);
            }
            return sums;
        }

        private void Compare(IEnumerable<CsvExportFile.Row> rows, Dictionary<string, Dictionary<string, long>> sums)
        {
            foreach (var row in rows)
            {
                var sum = sums.GetValueOrDefault(row.Code);
                foreach (var column in _export.Choices.Select(c => (c.PublicKey, c.RecapKey)).Concat(CsvExportFile.Administrative.Select(a => (a, a))))
                {
                    long shown = row.Numbers[column.Item1] ?? 0, counted = sum?.GetValueOrDefault(column.Item2) ?? 0;
                    if (shown != counted)
                        _differences.Add($"{row.Code} {column.Item1}: the export says {shown}, the log counts {counted} at size {row.Size}");
                }
            }
        }

        private static void Increase(Dictionary<string, long> sum, string key, long by) => sum[key] = sum.GetValueOrDefault(key) + by;
    }
}
