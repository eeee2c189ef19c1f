using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Protocol;

namespace KpuEdge.Verify;

[JsonConverter(typeof(JsonStringEnumConverter<CheckStatus>))]
public enum CheckStatus
{
    [JsonStringEnumMemberName("passed")] Passed,
    [JsonStringEnumMemberName("failed")] Failed,
    /// <summary>Not checked (for example no CRL was given): shown, never counted as passed or failed.</summary>
    [JsonStringEnumMemberName("skipped")] Skipped,
}

/// <summary>One check: a stable <see cref="Name"/>, its status, an error code when it failed, and what was seen.</summary>
public sealed record Check(string Name, CheckStatus Status, string? Error, string Detail)
{
    public bool Ok => Status != CheckStatus.Failed;

    public static Check Pass(string name, string detail) => new(name, CheckStatus.Passed, null, detail);

    public static Check Fail(string name, string error, string detail) => new(name, CheckStatus.Failed, error, detail);

    public static Check Skip(string name, string detail) => new(name, CheckStatus.Skipped, null, detail);
}

/// <summary>
/// What a kpu-verify command found: the checks in the order they ran, facts worth printing (hashes, sizes, the TPS),
/// or the usage / I/O error that kept it from checking. Exit code 0 all passed, 1 a check failed, 2 could not check.
/// </summary>
public sealed class VerificationReport(string command)
{
    private readonly List<Check> _checks = [];
    private readonly Dictionary<string, string> _facts = new(StringComparer.Ordinal);

    public const int ExitOk = 0;
    public const int ExitCheckFailed = 1;
    public const int ExitCannotCheck = 2;

    public string Command { get; } = command;
    public IReadOnlyList<Check> Checks => _checks;
    public IReadOnlyDictionary<string, string> Facts => _facts;

    /// <summary>The signed checkpoint note the checks ended with, once it verified (consistency: the new one), for saving.</summary>
    public string? VerifiedCheckpoint { get; internal set; }

    /// <summary>Set when the command could not check at all (bad arguments, unreadable file, log unreachable).</summary>
    public string? Error { get; private set; }
    public string? ErrorDetail { get; private set; }

    public bool Ok => Error is null && _checks.All(c => c.Ok);

    public int ExitCode => Error is not null ? ExitCannotCheck : _checks.All(c => c.Ok) ? ExitOk : ExitCheckFailed;

    public Check? this[string name] => _checks.LastOrDefault(c => c.Name == name);

    /// <summary>Adds a check and returns whether it did not fail, so callers can stop at the first failure that matters.</summary>
    public bool Add(Check check)
    {
        _checks.Add(check);
        return check.Ok;
    }

    public void Fact(string name, object? value)
    {
        if (value is not null) _facts[name] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>Records that the command could not check; returns the report for one-line returns.</summary>
    public VerificationReport CannotCheck(string error, string detail)
    {
        Error = error;
        ErrorDetail = detail;
        return this;
    }

    public void WriteHuman(TextWriter output)
    {
        foreach (var check in _checks)
        {
            string mark = check.Status switch { CheckStatus.Passed => "✓", CheckStatus.Failed => "✗", _ => "–" };
            string code = check.Error is null ? "" : $" [{check.Error}]";
            output.WriteLine($"{mark} {check.Name}: {check.Detail}{code}");
        }
        foreach (var (name, value) in _facts) output.WriteLine($"  {name}: {value}");
        if (Error is not null)
        {
            output.WriteLine($"✗ could not check: {ErrorDetail} [{Error}]");
            return;
        }
        int failed = _checks.Count(c => !c.Ok);
        output.WriteLine(failed == 0 ? "All checks passed." : $"{failed} check{(failed == 1 ? "" : "s")} FAILED.");
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        command = Command,
        ok = Ok,
        exit_code = ExitCode,
        error = Error,
        error_detail = ErrorDetail,
        checks = _checks.Select(c => new { name = c.Name, status = c.Status, ok = c.Ok, error = c.Error, detail = c.Detail }),
        facts = _facts,
    }, Json);

    private static readonly JsonSerializerOptions Json = new(KpuJson.Api)
    {
        WriteIndented = true,
        // Details quote notes and names (em dashes, TPS names); escaping them to \uXXXX only hurts the reader.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
