using KpuEdge.Core.Protocol;
using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tally;

/// <summary>A count written on the form as L (laki-laki, men), P (perempuan, women) and Jumlah (total).</summary>
public readonly record struct GenderCount(int L, int P, int Total)
{
    public static GenderCount Of(int l, int p) => new(l, p, l + p);
}

/// <summary>Section II of the form: ballot papers received, used, returned damaged or spoiled, unused.</summary>
public readonly record struct BallotPapers(int Diterima, int Digunakan, int Rusak, int Sisa);

/// <summary>
/// Votes for one ballot choice. For party contests <see cref="PartyVotes"/> are the votes for the party
/// alone and <see cref="CandidateVotes"/> those for each listed candidate; <see cref="Total"/> is the
/// party's written total. For PPWP pairs and DPD candidates only <see cref="Total"/> is used.
/// </summary>
public sealed record ChoiceVotes(int Number, int Total, int PartyVotes = 0, int[]? CandidateVotes = null)
{
    public int[] CandidateVotes { get; init; } = CandidateVotes ?? [];
}

/// <summary>
/// The numbers a C.Hasil form carries and a D.Hasil sums: voters, ballot papers, votes per choice, valid and invalid.
/// One encoding and one comparison serve both.
/// </summary>
public interface ITallyNumbers
{
    ContestId Contest { get; }
    GenderCount Dpt { get; }
    GenderCount PenggunaDpt { get; }
    GenderCount PenggunaDptb { get; }
    GenderCount PenggunaDpk { get; }
    GenderCount PenggunaTotal { get; }
    GenderCount Disabilitas { get; }
    BallotPapers Surat { get; }
    IReadOnlyList<ChoiceVotes> Suara { get; }
    int SuaraSah { get; }
    int SuaraTidakSah { get; }
    int SuaraTotal { get; }
}

/// <summary>
/// The numbers of one C.Hasil form set: one contest at one TPS, as read from paper. A tally can hold
/// numbers that break the form's rules: <see cref="C1Validator"/> says which.
/// </summary>
public sealed record C1Tally : ITallyNumbers
{
    public required ContestId Contest { get; init; }
    [JsonConverter(typeof(TpsCodeJsonConverter))]
    public required TpsCode Tps { get; init; }

    // I. Voters (data pemilih dan pengguna hak pilih)
    public required GenderCount Dpt { get; init; }
    public required GenderCount PenggunaDpt { get; init; }
    public required GenderCount PenggunaDptb { get; init; }
    public required GenderCount PenggunaDpk { get; init; }
    public required GenderCount PenggunaTotal { get; init; }
    public required GenderCount Disabilitas { get; init; }

    // II. Ballot papers (surat suara)
    public required BallotPapers Surat { get; init; }

    // III/IV. Votes per choice
    public required IReadOnlyList<ChoiceVotes> Suara { get; init; }

    // V. Valid, invalid, total
    public required int SuaraSah { get; init; }
    public required int SuaraTidakSah { get; init; }
    public required int SuaraTotal { get; init; }

    public static readonly JsonSerializerOptions Json = KpuJson.Files;

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static C1Tally FromJson(string json) =>
        JsonSerializer.Deserialize<C1Tally>(json, Json) ?? throw new JsonException("Empty tally.");
}

public sealed class TpsCodeJsonConverter : JsonConverter<TpsCode>
{
    public override TpsCode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? text = reader.GetString();
        return TpsCode.TryParse(text, out var code) ? code : throw new JsonException($"Not a TPS code: '{text}'.");
    }

    public override void Write(Utf8JsonWriter writer, TpsCode value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
