using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Vision.Tests;

[Collection(ReaderCollection.Name)]
public sealed class ConsistentReadingsTests(ReaderFixture f)
{
    private static double[] Digits(params (int Digit, double P)[] p)
    {
        var probabilities = new double[10];
        foreach (var (digit, value) in p) probabilities[digit] = value;
        return probabilities;
    }

    [Fact]
    public void Finds_the_likeliest_reading_that_keeps_the_sum_and_its_exact_share()
    {
        // a + b = c, one box each. Read: a 2 (0.9) or 3 (0.1), b 3, c 6 (0.6) or 5 (0.4). What keeps the sum:
        // 2 + 3 = 5 (0.9 · 0.4 = 0.36) and 3 + 3 = 6 (0.1 · 0.6 = 0.06); the first holds 0.36 / 0.42 of it.
        ConsistentReadings.Box[] boxes =
        [
            new(0, 1, Digits((2, 0.9), (3, 0.1))),
            new(1, 1, Digits((3, 1.0))),
            new(2, 1, Digits((6, 0.6), (5, 0.4))),
        ];
        IReadOnlyList<(int, int)>[] sum = [[(0, 1), (1, 1), (2, -1)]];

        var result = ConsistentReadings.Search(boxes, 3, sum, new ConsistentReadings.Limits());

        Assert.Equal([2, 3, 5], result.Best!);
        Assert.Equal(0.36 / 0.42, result.Share, 12);
        Assert.Equal(0, result.Unexplored);
    }

    [Fact]
    public void Finds_no_reading_when_no_digit_the_boxes_allow_keeps_the_sum()
    {
        ConsistentReadings.Box[] boxes = [new(0, 1, Digits((2, 1.0))), new(1, 1, Digits((3, 1.0))), new(2, 1, Digits((7, 1.0)))];
        IReadOnlyList<(int, int)>[] sum = [[(0, 1), (1, 1), (2, -1)]];

        var result = ConsistentReadings.Search(boxes, 3, sum, new ConsistentReadings.Limits());

        Assert.Null(result.Best);
        Assert.Equal(0, result.Share);
    }

    [Fact]
    public void Bounds_what_it_does_not_search_so_the_share_is_never_overstated()
    {
        // Tens and units of a and of b = a: every digit has some probability, so readings changing three or more
        // improbable digits exist; with at most one improbable digit searched, their weight is bounded, not ignored.
        double[] Sure(int digit) => Enumerable.Range(0, 10).Select(d => d == digit ? 0.99991 : 0.00001).ToArray();
        ConsistentReadings.Box[] boxes = [new(0, 10, Sure(4)), new(0, 1, Sure(2)), new(1, 10, Sure(4)), new(1, 1, Sure(2))];
        IReadOnlyList<(int, int)>[] same = [[(0, 1), (1, -1)]];

        var narrow = ConsistentReadings.Search(boxes, 2, same, new ConsistentReadings.Limits(MaxImprobable: 1));
        var wide = ConsistentReadings.Search(boxes, 2, same, new ConsistentReadings.Limits(MaxImprobable: 4));

        Assert.Equal([4, 2, 4, 2], narrow.Best!);
        Assert.True(narrow.Unexplored > 0);
        Assert.True(narrow.Share <= wide.Share + 1e-15, $"{narrow.Share} > {wide.Share}");
    }

    [Theory]
    [InlineData(ContestId.Ppwp, 1)]
    [InlineData(ContestId.Ppwp, 2)]
    [InlineData(ContestId.Dpr, 3)]
    [InlineData(ContestId.DprdProvinsi, 4)]
    public void The_reader_s_sums_are_the_validator_s_equalities(ContestId contest, int seed)
    {
        var ballot = f.Ballot(contest);
        var equations = TallyEquations.For(ballot);
        var rules = equations.Select(e => e.Rule).ToHashSet();
        var truth = TallyFields.ToValues(f.Tally(contest, seed));
        var keys = truth.Keys.ToArray();
        var random = new Random(seed);
        for (int trial = 0; trial < 200; trial++)
        {
            var values = new Dictionary<string, int>(truth);
            for (int changes = random.Next(0, 3); changes > 0; changes--)
            {
                var key = keys[random.Next(keys.Length)];
                values[key] = Math.Clamp(values[key] + random.Next(-3, 4) * (random.Next(2) == 0 ? 1 : 10), 0, 999);
            }
            bool sumsHold = equations.All(e => e.Terms.Sum(t => t.Coefficient * values[t.Key]) == 0);
            bool validatorEqualitiesHold = !C1Validator.Validate(TallyFields.FromValues(ballot, f.Tps, values), ballot).Any(v => rules.Contains(v.Rule));
            Assert.Equal(validatorEqualitiesHold, sumsHold);
        }
    }
}
