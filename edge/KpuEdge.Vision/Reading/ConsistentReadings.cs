namespace KpuEdge.Vision.Reading;

/// <summary>
/// The likeliest reading of a whole form that keeps every sum, and how much of the probability of all such readings
/// it holds. Each box has a probability for each of the ten digits (the classifier's, calibrated, with a floor and the
/// bubble's word); a reading picks one digit per box, its weight is the product of the boxes' probabilities, and only
/// readings that keep every <see cref="Forms.TallyEquation"/> count. The search runs box by box in print order,
/// merging partial readings that leave the same residuals on the sums still open and the same number of improbable
/// digits, and dropping those that can no longer close a sum (a forward pass over the sums, as in a trellis).
/// <para>
/// Every weight is relative to the reading of each box's likeliest digit. A digit is <i>plausible</i> when at least
/// <see cref="Limits.PlausibleRatio"/> as likely as its box's likeliest; a reading may hold any number of plausible
/// digits and at most <see cref="Limits.MaxImprobable"/> improbable ones. Whatever the search leaves out — readings
/// with more improbable digits, partial readings dropped as negligible — is bounded from above and reported as
/// <see cref="Result.Unexplored"/>, so <see cref="Result.Share"/> never overstates the best reading's share.
/// </para>
/// </summary>
public static class ConsistentReadings
{
    /// <summary>One box: its field, its place value (100, 10, 1), and the probability of each digit (sums to 1).</summary>
    public sealed record Box(int Field, int Place, double[] Probabilities);

    /// <summary>How far the search goes.</summary>
    /// <param name="PlausibleRatio">A digit at least this fraction as likely as its box's likeliest is plausible.</param>
    /// <param name="MaxImprobable">Improbable digits a reading may hold (readings with more are bounded, not searched).</param>
    /// <param name="NegligibleRatio">A partial reading this much lighter than the heaviest is dropped (its weight bounded).</param>
    /// <param name="MaxStates">Partial readings kept at a time; the lightest beyond are dropped (their weight bounded).</param>
    public sealed record Limits(double PlausibleRatio = 1e-3, int MaxImprobable = 2, double NegligibleRatio = 1e-13, int MaxStates = 500);

    /// <param name="Best">The likeliest consistent reading, a digit per box; null when none was found.</param>
    /// <param name="BestWeight">Its weight relative to the reading of each box's likeliest digit.</param>
    /// <param name="Total">The weight of every consistent reading found, the best included.</param>
    /// <param name="Unexplored">An upper bound on the weight of the consistent readings not searched.</param>
    public sealed record Result(int[]? Best, double BestWeight, double Total, double Unexplored)
    {
        /// <summary>The best reading's share of all consistent readings' weight, at its lowest.</summary>
        public double Share => Best is null ? 0 : BestWeight / (Total + Unexplored);
    }

    private sealed class State(int[] residual, int improbable, int hash)
    {
        public readonly int[] Residual = residual;
        public readonly int Improbable = improbable;
        public readonly int Hash = hash;
        public double Sum, Max;
        public State? Parent;
        public int Digit;
    }

    private sealed class StateComparer : IEqualityComparer<State>
    {
        public static readonly StateComparer Instance = new();
        public bool Equals(State? a, State? b) => a!.Hash == b!.Hash && a.Improbable == b.Improbable && a.Residual.AsSpan().SequenceEqual(b.Residual);
        public int GetHashCode(State s) => s.Hash;
    }

    private static int HashOf(int[] residual, int improbable)
    {
        var h = new HashCode();
        h.Add(improbable);
        foreach (var r in residual) h.Add(r);
        return h.ToHashCode();
    }

    /// <param name="boxes">Every box of the form.</param>
    /// <param name="equations">Each sum as (field index, coefficient) terms: Σ coefficient · field value = 0.</param>
    /// <returns>The best reading's digits in the order of <paramref name="boxes"/>.</returns>
    public static Result Search(IReadOnlyList<Box> boxes, int fieldCount, IReadOnlyList<IReadOnlyList<(int Field, int Coefficient)>> equations, Limits limits)
    {
        var rank = SearchOrder(fieldCount, equations);
        var order = Enumerable.Range(0, boxes.Count).OrderBy(k => rank[boxes[k].Field]).ThenBy(k => k).ToArray();
        var result = SearchInOrder(order.Select(k => boxes[k]).ToArray(), fieldCount, equations, limits);
        if (result.Best is not { } found) return result;
        var best = new int[boxes.Count];
        for (int j = 0; j < order.Length; j++) best[order[j]] = found[j];
        return result with { Best = best };
    }

    /// <summary>The rank of each field in the search: greedily the field after which the fewest sums are open (begun,
    /// not finished), ties in the given order. Few open sums keep few distinct partial readings: on a DPR form the
    /// totals of the votes come before the parties, so only Σ votes = suara sah stays open across them.</summary>
    private static int[] SearchOrder(int fieldCount, IReadOnlyList<IReadOnlyList<(int Field, int Coefficient)>> equations)
    {
        var fieldEquations = new List<int>[fieldCount];
        for (int f = 0; f < fieldCount; f++) fieldEquations[f] = [];
        for (int q = 0; q < equations.Count; q++) foreach (var (field, _) in equations[q]) fieldEquations[field].Add(q);
        var left = equations.Select(eq => eq.Select(t => t.Field).Distinct().Count()).ToArray();
        var begun = new bool[equations.Count];
        var rank = Enumerable.Repeat(-1, fieldCount).ToArray();
        int open = 0;
        for (int step = 0; step < fieldCount; step++)
        {
            int pick = -1, pickOpen = int.MaxValue;
            for (int f = 0; f < fieldCount; f++)
            {
                if (rank[f] >= 0) continue;
                int after = open;
                foreach (var q in fieldEquations[f])
                {
                    if (!begun[q]) after++;
                    if (left[q] == 1) after--;
                }
                if (after < pickOpen) (pick, pickOpen) = (f, after);
            }
            rank[pick] = step;
            foreach (var q in fieldEquations[pick])
            {
                begun[q] = true;
                left[q]--;
            }
            open = pickOpen;
        }
        return rank;
    }

    private static Result SearchInOrder(IReadOnlyList<Box> boxes, int fieldCount, IReadOnlyList<IReadOnlyList<(int Field, int Coefficient)>> equations, Limits limits)
    {
        int n = boxes.Count, e = equations.Count;
        var likeliest = new int[n];
        var ratio = new double[n][];
        double plausibleMass = 1, improbableSum = 0;
        var suffix = new double[n + 1]; // Π over boxes ≥ k of (1 + every other digit's ratio): all readings of the rest
        for (int k = 0; k < n; k++)
        {
            var p = boxes[k].Probabilities;
            int best = 0;
            for (int d = 1; d < 10; d++) if (p[d] > p[best]) best = d;
            likeliest[k] = best;
            ratio[k] = new double[10];
            double plausible = 0, improbable = 0;
            for (int d = 0; d < 10; d++)
            {
                ratio[k][d] = p[d] / p[best];
                if (d == best) continue;
                if (ratio[k][d] >= limits.PlausibleRatio) plausible += ratio[k][d]; else improbable += ratio[k][d];
            }
            plausibleMass *= 1 + plausible;
            improbableSum += improbable;
        }
        suffix[n] = 1;
        for (int k = n - 1; k >= 0; k--) suffix[k] = suffix[k + 1] * ratio[k].Sum();

        var fieldEquations = new List<(int Equation, int Coefficient)>[fieldCount];
        for (int f = 0; f < fieldCount; f++) fieldEquations[f] = [];
        var residual = new int[e];
        var value = new int[fieldCount];
        for (int k = 0; k < n; k++) value[boxes[k].Field] += likeliest[k] * boxes[k].Place;
        for (int q = 0; q < e; q++)
            foreach (var (field, coefficient) in equations[q])
            {
                fieldEquations[field].Add((q, coefficient));
                residual[q] += coefficient * value[field];
            }
        var balance = new Balance(boxes, likeliest, ratio, fieldEquations, e, limits.PlausibleRatio);
        for (int q = 0; q < e; q++)
            if (!balance.HasBoxes(q) && residual[q] != 0) return new Result(null, 0, 0, 0); // a sum no box can change is broken

        var start = new State(residual, 0, HashOf(residual, 0)) { Sum = 1, Max = 1, Digit = -1 };
        var states = new List<State> { start };
        double unexplored = 0;
        var next = new Dictionary<State, State>(StateComparer.Instance);
        for (int k = 0; k < n; k++)
        {
            next.Clear();
            var box = boxes[k];
            var terms = fieldEquations[box.Field];
            foreach (var s in states)
            {
                for (int d = 0; d < 10; d++)
                {
                    double w = ratio[k][d];
                    if (w <= 0) continue;
                    bool improbable = d != likeliest[k] && w < limits.PlausibleRatio;
                    int count = s.Improbable + (improbable ? 1 : 0);
                    if (count > limits.MaxImprobable) continue;
                    int delta = (d - likeliest[k]) * box.Place;
                    bool feasible = true;
                    for (int t = 0; t < terms.Count && feasible; t++)
                        feasible = balance.CanBalance(k, t, s.Residual[terms[t].Equation] + terms[t].Coefficient * delta, limits.MaxImprobable - count);
                    if (!feasible) continue;
                    int[] res = s.Residual;
                    if (delta != 0)
                    {
                        res = (int[])s.Residual.Clone();
                        foreach (var (q, coefficient) in terms) res[q] += coefficient * delta;
                    }
                    var key = new State(res, count, HashOf(res, count));
                    if (!next.TryGetValue(key, out var merged))
                    {
                        merged = key;
                        merged.Max = -1;
                        next.Add(key, merged);
                    }
                    merged.Sum += s.Sum * w;
                    if (s.Max * w > merged.Max)
                    {
                        merged.Max = s.Max * w;
                        merged.Parent = s;
                        merged.Digit = d;
                    }
                }
            }
            states = next.Values.ToList();
            if (states.Count == 0) break;
            double heaviest = states.Max(s => s.Sum);
            if (states.Count > limits.MaxStates || states.Any(s => s.Sum < limits.NegligibleRatio * heaviest))
            {
                states.Sort((a, b) => b.Sum.CompareTo(a.Sum));
                int keep = 0;
                while (keep < states.Count && keep < limits.MaxStates && states[keep].Sum >= limits.NegligibleRatio * heaviest) keep++;
                for (int i = keep; i < states.Count; i++) unexplored += states[i].Sum * suffix[k + 1];
                states.RemoveRange(keep, states.Count - keep);
            }
        }
        // readings with more improbable digits than searched: at most Π(1 + plausible ratios) · Σ_{m > max} (Σ improbable)^m / m!
        double factorial = 1;
        for (int m = 2; m <= limits.MaxImprobable + 1; m++) factorial *= m;
        unexplored += plausibleMass * Math.Pow(improbableSum, limits.MaxImprobable + 1) / factorial * Math.Exp(improbableSum);

        if (states.Count == 0) return new Result(null, 0, 0, unexplored);
        var top = states.MaxBy(s => s.Max)!;
        var digits = new int[n];
        var at = top;
        for (int k = n - 1; k >= 0; k--)
        {
            digits[k] = at.Digit;
            at = at.Parent!;
        }
        return new Result(digits, top.Max, states.Sum(s => s.Sum), unexplored);
    }

    /// <summary>
    /// Whether a sum left unbalanced after a box can still balance with the boxes of it still to come: exactly, the
    /// amounts their plausible digits can move it by (each box at most once), and, while improbable digits may still be
    /// spent, one of those on top (more than one left: assumed possible). A partial reading that cannot balance some sum
    /// has no consistent completion and is dropped at once, which keeps improbable digits from multiplying partial readings.
    /// </summary>
    private sealed class Balance
    {
        /// <summary>More amounts than this for the rest of a sum: assumed able to balance anything.</summary>
        private const int MaxAmounts = 4096;

        // per sum, per position among its boxes (search order): the amounts the boxes from there on can move it by
        // with plausible digits (null: too many to list) and with one improbable digit
        private readonly HashSet<int>?[][] _plausible;
        private readonly HashSet<int>[][] _improbable;
        // per box, per sum of its field (in the field's order): the sum and the box's position among its boxes
        private readonly (int Sum, int Position)[][] _where;

        public Balance(IReadOnlyList<Box> boxes, int[] likeliest, double[][] ratio, List<(int Equation, int Coefficient)>[] fieldEquations, int sums, double plausibleRatio)
        {
            var members = Enumerable.Range(0, sums).Select(_ => new List<(int Box, int Coefficient)>()).ToArray();
            _where = new (int, int)[boxes.Count][];
            for (int k = 0; k < boxes.Count; k++)
            {
                var terms = fieldEquations[boxes[k].Field];
                _where[k] = terms.Select(t => (t.Equation, members[t.Equation].Count)).ToArray();
                foreach (var (q, coefficient) in terms) members[q].Add((k, coefficient));
            }
            _plausible = new HashSet<int>?[sums][];
            _improbable = new HashSet<int>[sums][];
            for (int q = 0; q < sums; q++)
            {
                var m = members[q];
                _plausible[q] = new HashSet<int>?[m.Count + 1];
                _improbable[q] = new HashSet<int>[m.Count + 1];
                _plausible[q][m.Count] = [0];
                _improbable[q][m.Count] = [];
                for (int i = m.Count - 1; i >= 0; i--)
                {
                    var (k, coefficient) = m[i];
                    var after = _plausible[q][i + 1];
                    HashSet<int>? here = after is null ? null : [.. after];
                    var improbable = new HashSet<int>(_improbable[q][i + 1]);
                    for (int d = 0; d < 10; d++)
                    {
                        if (d == likeliest[k] || ratio[k][d] <= 0) continue;
                        int amount = coefficient * (d - likeliest[k]) * boxes[k].Place;
                        if (ratio[k][d] < plausibleRatio) improbable.Add(amount);
                        else if (here is not null) foreach (var x in after!) here.Add(x + amount);
                    }
                    _plausible[q][i] = here is { Count: > MaxAmounts } ? null : here;
                    _improbable[q][i] = improbable;
                }
            }
        }

        public bool HasBoxes(int sum) => _plausible[sum].Length > 1;

        /// <summary>Whether the <paramref name="term"/>-th sum of box <paramref name="box"/>'s field, left at
        /// <paramref name="residual"/> after it, can still balance with at most <paramref name="improbableLeft"/> improbable digits.</summary>
        public bool CanBalance(int box, int term, int residual, int improbableLeft)
        {
            if (residual == 0) return true;
            var (q, position) = _where[box][term];
            int next = position + 1;
            if (next == _plausible[q].Length - 1) return false; // the sum's last box: it closes unbalanced
            if (improbableLeft >= 2 || _plausible[q][next] is not { } plausible) return true;
            if (plausible.Contains(-residual)) return true;
            if (improbableLeft == 0) return false;
            foreach (var amount in _improbable[q][next])
                if (plausible.Contains(-residual - amount)) return true;
            return false;
        }
    }
}
