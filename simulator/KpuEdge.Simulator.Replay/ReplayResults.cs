using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using nietras.SeparatedValues;

namespace KpuEdge.Simulator.Replay;

/// <summary>
/// Reads a results file (<c>tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1,c2[,c3…]</c>, see
/// README.md) row by row against a <see cref="ReplayRegistry"/>: each row becomes the filled C.Hasil tally of that
/// TPS's ballot (<see cref="ReplayFill"/>) that passes <see cref="C1Validator"/>, or a <see cref="RefusedRow"/> with
/// its reason. Streaming: one row's text at a time, so a file of millions of rows costs only what the caller keeps.
/// </summary>
public static class ReplayResults
{
    public static readonly IReadOnlyList<string> Columns = ["tps_code", "contest", "dpt", "pengguna_total", "suara_sah", "suara_tidak_sah"];

    /// <summary>Reads the file lazily; accepted rows are added to <paramref name="sums"/> as they are yielded.</summary>
    public static IEnumerable<ReplayOutcome> Read(string path, ReplayRegistry registry, ElectionDefinition election, ReplayFileSums? sums = null)
    {
        using var stream = File.OpenRead(path);
        foreach (var outcome in Read(stream, registry, election, sums, Path.GetFileName(path))) yield return outcome;
    }

    /// <param name="name">The file's name for error messages.</param>
    public static IEnumerable<ReplayOutcome> Read(Stream utf8Csv, ReplayRegistry registry, ElectionDefinition election, ReplayFileSums? sums = null, string name = "results")
    {
        using var reader = ReplayCsv.OpenReader(utf8Csv, name);
        var state = new RowReader(reader, name, registry, election, sums);
        while (reader.MoveNext())
        {
            if (!ReplayCsv.IsBlank(reader.Current)) yield return state.Read(reader.Current);
        }
    }

    /// <summary>The per-file state of a read: column indices, the ballots, and the first line of each (TPS, contest).</summary>
    private sealed class RowReader
    {
        private readonly ReplayRegistry _registry;
        private readonly BallotCatalog _ballots;
        private readonly ReplayFileSums? _sums;
        private readonly int _fieldCount;
        private readonly int[] _column;
        /// <summary>Column index of cN at [N - 1], -1 where the header has no cN.</summary>
        private readonly int[] _choiceColumn;
        /// <summary>First line of each (registry TPS index, contest), 0 if none yet: duplicates are refused.</summary>
        private readonly int[] _firstLine;

        public RowReader(SepReader reader, string name, ReplayRegistry registry, ElectionDefinition election, ReplayFileSums? sums)
        {
            _registry = registry;
            _ballots = election.Ballots(registry.Tree);
            _sums = sums;
            _column = ReplayCsv.RequireColumns(reader, name, Columns, c => ChoiceNumber(c) > 0);
            _fieldCount = reader.Header.ColNames.Count;
            var choices = reader.Header.ColNames.Select(ChoiceNumber).Where(n => n > 0).ToArray();
            if (choices.Length == 0)
                throw new InvalidDataException($"{name}: the header has no vote column (c1, c2, …).");
            _choiceColumn = new int[choices.Max()];
            Array.Fill(_choiceColumn, -1);
            foreach (int n in choices) _choiceColumn[n - 1] = reader.Header.IndexOf($"c{n}");
            _firstLine = new int[registry.TpsCount * Contests.All.Count];
        }

        /// <summary>N for a column named cN (N 1..999), else 0.</summary>
        private static int ChoiceNumber(string column) =>
            column.Length > 1 && column[0] is 'c' or 'C' && int.TryParse(column.AsSpan(1), System.Globalization.NumberStyles.None, null, out int n) &&
            n is >= 1 and <= 999 && column[1] != '0' ? n : 0;

        public ReplayOutcome Read(SepReader.Row row)
        {
            int line = row.LineNumberFrom;
            if (row.ColCount != _fieldCount)
                return Refuse(line, null, null, ReplayRefusal.Malformed, ReplayCsv.FieldCountProblem(row, _fieldCount));

            var codeText = row[_column[0]].Span;
            if (!_registry.TryFind(codeText, out int index))
            {
                string code = codeText.ToString();
                if (!TpsCode.TryParse(code, out var unknown))
                    return Refuse(line, null, null, ReplayRefusal.BadTpsCode, $"'{code}' is not a TPS code (13 digits PP RR DD VVVV TTT, no segment all zeros).");
                return Refuse(line, unknown, null, ReplayRefusal.UnknownTps, _registry.TryGetRefusedLine(unknown, out long refusedLine)
                    ? $"TPS {unknown} is not in the registry: its row on line {refusedLine} was refused."
                    : $"TPS {unknown} is not in the registry.");
            }
            var tps = _registry.CodeAt(index);

            var contestText = row[_column[1]].Span;
            if (!ReplayContests.TryParse(contestText, out var contest))
                return Refuse(line, tps, null, ReplayRefusal.UnknownContest, $"'{contestText}' is not a contest; accepted: {string.Join(", ", ReplayContests.Accepted)} (case, spaces, '-', '_', '/' and '.' ignored).");
            var ballot = _ballots.For(contest, tps);
            if (ballot is null)
            {
                var province = tps.Region.AncestorAt(RegionLevel.Provinsi);
                return Refuse(line, tps, contest, ReplayRefusal.ContestNotHeld, $"{contest.Slug()} is not held at TPS {tps} (province {province}, {_registry.Tree.NameOf(province)}).");
            }

            ref int first = ref _firstLine[index * Contests.All.Count + (int)contest - 1];
            if (first != 0)
                return Refuse(line, tps, contest, ReplayRefusal.DuplicateForm, $"line {first} has the same TPS and contest; the first row stands.");
            first = line;

            var votes = new int?[_choiceColumn.Length];
            for (int n = 0; n < votes.Length; n++)
            {
                if (_choiceColumn[n] < 0) continue;
                if (!Number(row, _choiceColumn[n], out votes[n], out var bad))
                    return Refuse(line, tps, contest, ReplayRefusal.Malformed, $"c{n + 1} '{bad}' is not a whole number.");
            }
            string? badField = null, badText = null;
            int? Field(SepReader.Row r, int column)
            {
                if (Number(r, _column[column], out var value, out var bad)) return value;
                badField ??= Columns[column];
                badText ??= bad;
                return null;
            }
            var given = new ResultRow(tps, contest, Field(row, 2), Field(row, 3), Field(row, 4), Field(row, 5), votes);
            if (badField is not null)
                return Refuse(line, tps, contest, ReplayRefusal.Malformed, $"{badField} '{badText}' is not a whole number.");

            if (!ReplayFill.TryComplete(given, ballot, _registry.DptAt(index), out var numbers, out var refusal, out string reason))
                return Refuse(line, tps, contest, refusal, reason);
            var tally = ReplayFill.ToTally(tps, ballot, numbers);
            var violations = C1Validator.Validate(tally, ballot);
            if (violations.Count > 0)
            {
                return new RefusedRow(ReplayFile.Results, line, tps, contest, ReplayRefusal.BrokenRule,
                    string.Join("; ", violations.Select(v => $"{v.Rule} ({v.Field}): {v.Message}"))) { Violations = violations };
            }
            _sums?.Add(tps, ballot, numbers);
            return new ReplayForm(line, tally);
        }

        /// <summary>False with the text for a field that is neither empty nor a whole number.</summary>
        private static bool Number(SepReader.Row row, int column, out int? value, out string bad)
        {
            var text = row[column].Span;
            value = null;
            bad = "";
            switch (ReplayCsv.ParseNumber(text, out int parsed))
            {
                case ReplayCsv.Number.Empty: return true;
                case ReplayCsv.Number.Value: value = parsed; return true;
                default: bad = text.ToString(); return false;
            }
        }

        private static RefusedRow Refuse(int line, TpsCode? tps, ContestId? contest, ReplayRefusal refusal, string reason) =>
            new(ReplayFile.Results, line, tps, contest, refusal, reason);
    }
}
