namespace KpuEdge.Vision.Reading;

/// <summary>Why an image gives no numbers. Stable codes for logs and tests; messages for the KPPS in Bahasa Indonesia.</summary>
public static class ScanErrors
{
    public const string Unreadable = "unreadable_image";
    public const string NotAForm = "not_a_form";
    public const string CutOff = "cut_off";
    public const string UpsideDown = "upside_down";
    public const string WrongContest = "wrong_contest";
    public const string WrongTps = "wrong_tps";
    public const string WrongElection = "wrong_election";
    public const string UnknownPage = "unknown_page";
    public const string MissingPage = "missing_page";
}

/// <summary>The image is not a readable page of the expected form: the operator must take another photo.</summary>
public sealed class ScanException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
