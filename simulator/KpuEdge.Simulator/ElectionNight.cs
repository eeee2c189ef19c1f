using System.Globalization;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Simulator;

/// <summary>
/// When election night's forms reach the cloud — a stated model, since the brief gives no arrival curve and we hold no
/// 2024 upload log yet. Polls close at 13:00 local time in three zones (WIT at 11:00 WIB, WITA at 12:00 WIB, WIB at
/// 13:00); a TPS sends each contest's form when that ballot's count ends, in the order ballots are counted, at a time
/// after closing drawn from a triangular distribution per contest (<see cref="Counting"/>). The forms of every province
/// and contest come from the real registry (four contests in Jakarta). The busiest minute and hour of the sum are what
/// the cloud must carry.
/// </summary>
public sealed record ElectionNight(long Forms, long Devices, double PeakMinutePerSecond, TimeOnly PeakMinuteWib, double PeakHourPerSecond, TimeOnly PeakHourStartWib)
{
    /// <summary>Hours after the polls close at which a contest's forms are sent: earliest, likeliest, latest.</summary>
    public sealed record CountingWindow(ContestId Contest, double Earliest, double Likeliest, double Latest);

    /// <summary>PPWP first, then DPR, DPD, DPRD Provinsi, DPRD Kab/Kota — into the night and the small hours, as in 2024.</summary>
    public static readonly IReadOnlyList<CountingWindow> Counting =
    [
        new(ContestId.Ppwp, 1, 2.5, 6),
        new(ContestId.Dpr, 2, 4.5, 10),
        new(ContestId.Dpd, 3, 6, 12),
        new(ContestId.DprdProvinsi, 4, 7.5, 14),
        new(ContestId.DprdKabKota, 5, 9, 16),
    ];

    /// <summary>The first poll closing, in WIB: 13:00 WIT.</summary>
    private static readonly TimeOnly FirstClosingWib = new(11, 0);

    /// <summary>How many hours a province's clock runs ahead of WIB (UTC+7): WITA +1, WIT +2.</summary>
    public static int HoursAheadOfWib(RegionCode province) => province.ToString() switch
    {
        "51" or "52" or "53" or "63" or "64" or "65" or "71" or "72" or "73" or "74" or "75" or "76" => 1,
        "81" or "82" or "91" or "92" or "93" or "94" or "95" or "96" => 2,
        _ => 0,
    };

    /// <summary>The model over the registry's provinces, minute by minute from the first closing for a day.</summary>
    public static ElectionNight Model(RecapContext context)
    {
        const int minutes = 24 * 60;
        var perMinute = new double[minutes];
        long forms = 0;
        foreach (var province in context.Tree.ChildrenOf(RegionCode.Nasional))
        {
            // Hours from the first closing (11:00 WIB) to this province's.
            double closes = 2 - HoursAheadOfWib(province);
            foreach (var window in Counting)
            {
                long count = context.TpsExpected(window.Contest, province);
                forms += count;
                for (int m = 0; m < minutes; m++)
                    perMinute[m] += count * (Cdf(window, (m + 1) / 60.0 - closes) - Cdf(window, m / 60.0 - closes));
            }
        }
        int peakMinute = Array.IndexOf(perMinute, perMinute.Max());
        double hour = perMinute.Take(60).Sum(), peakHour = hour;
        int peakHourStart = 0;
        for (int m = 60; m < minutes; m++)
        {
            hour += perMinute[m] - perMinute[m - 60];
            if (hour > peakHour) (peakHour, peakHourStart) = (hour, m - 59);
        }
        return new ElectionNight(forms, context.Tree.TpsTotal, perMinute[peakMinute] / 60, FirstClosingWib.AddMinutes(peakMinute),
            peakHour / 3600, FirstClosingWib.AddMinutes(peakHourStart));
    }

    /// <summary>The share of a contest's forms sent within <paramref name="hours"/> of closing (triangular distribution).</summary>
    private static double Cdf(CountingWindow w, double hours)
    {
        var (a, c, b) = (w.Earliest, w.Likeliest, w.Latest);
        if (hours <= a) return 0;
        if (hours >= b) return 1;
        return hours <= c ? (hours - a) * (hours - a) / ((b - a) * (c - a)) : 1 - (b - hours) * (b - hours) / ((b - a) * (b - c));
    }

    /// <summary>The model in words, for the benchmark's record.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"""
        {Forms:N0} forms from {Devices:N0} TPS (every contest held at each: four in Jakarta). Polls close at 13:00 local time:
        11:00 WIB in the WIT provinces (Maluku, Maluku Utara, Papua), 12:00 WIB in the WITA ones (Bali, Nusa Tenggara,
        eastern Kalimantan, Sulawesi), 13:00 WIB in the rest. Each contest's form is sent when its count ends, at a time after
        closing drawn from a triangular distribution (earliest / likeliest / latest hours):
        {string.Join(", ", Counting.Select(w => $"{w.Contest.Slug()} {w.Earliest:0.#} / {w.Likeliest:0.#} / {w.Latest:0.#}"))}
        — the order ballots are counted in, into the night and the small hours. An assumption, not a measurement: replace it
        with the 2024 upload times when we have them. The curve is smooth: bursts within a minute (a region's link coming back)
        are not in it, which is what the 15-minute target and the reconnection row below stand for. Busiest minute: {PeakMinuteWib:HH:mm} WIB, **{PeakMinutePerSecond:N0} forms/s**;
        busiest hour: from {PeakHourStartWib:HH:mm} WIB, {PeakHourPerSecond:N0} forms/s on average (for scale: Sirekap 2024 peaked
        near 14 TPS/s, Brazil's TSE near 51 results/s).
        """);
}
