// A direct call of AWS's Random Cut Forest library, for the tests: the scores (and attributions) KDA's
// parameters give over the points on stdin, one comma-separated point per line, in that order. It builds
// its forest itself from the library's builder, as the library's documentation describes KDA's parameters:
// the sample's decay rate is 1 / timeDecay, no score before subSampleSize points, internal shingling.
// The library is the one clickflow's jar carries (relocated there under io.clickflow.shaded).
//
//   java -cp connectors/build/clickflow-flink.jar tests/java/ForestReference.java \
//        TREES SAMPLE DECAY SHINGLE SEED [restoreEvery] < points.csv
//
// Output, one line per point: score, then per dimension of the shingled point "high:low".
// restoreEvery N: every N points the forest is saved with the library's mapper and rebuilt from that state
// (what a savepoint and a restore do), so a test can see that a restored forest goes on unchanged.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

import io.clickflow.shaded.com.amazon.randomcutforest.RandomCutForest;
import io.clickflow.shaded.com.amazon.randomcutforest.returntypes.DiVector;
import io.clickflow.shaded.com.amazon.randomcutforest.state.RandomCutForestMapper;

public class ForestReference {
    public static void main(String[] args) throws Exception {
        int trees = Integer.parseInt(args[0]);
        int sample = Integer.parseInt(args[1]);
        int decay = Integer.parseInt(args[2]);
        int shingle = Integer.parseInt(args[3]);
        long seed = Long.parseLong(args[4]);
        int restoreEvery = args.length > 5 ? Integer.parseInt(args[5]) : 0;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        RandomCutForest forest = null;
        StringBuilder out = new StringBuilder();
        int seen = 0;
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isBlank()) {
                continue;
            }
            String[] fields = line.split(",");
            double[] point = new double[fields.length];
            for (int i = 0; i < fields.length; i++) {
                point[i] = Double.parseDouble(fields[i]);
            }
            if (forest == null) {
                forest = RandomCutForest.builder()
                        .dimensions(point.length * shingle)
                        .shingleSize(shingle)
                        .internalShinglingEnabled(true)
                        .numberOfTrees(trees)
                        .sampleSize(sample)
                        .timeDecay(1.0 / decay)
                        .outputAfter(sample)
                        .randomSeed(seed)
                        .build();
            }
            double score = forest.getAnomalyScore(point);
            DiVector attribution = forest.getAnomalyAttribution(point);
            forest.update(point);
            out.append(String.format(Locale.ROOT, "%.17g", score));
            for (int d = 0; d < attribution.getDimensions(); d++) {
                out.append(String.format(Locale.ROOT, ",%.17g:%.17g", attribution.high[d], attribution.low[d]));
            }
            out.append('\n');
            seen++;
            if (restoreEvery > 0 && seen % restoreEvery == 0) {
                RandomCutForestMapper mapper = new RandomCutForestMapper();
                mapper.setSaveTreeStateEnabled(true);
                mapper.setSaveExecutorContextEnabled(true);
                forest = mapper.toModel(mapper.toState(forest));
            }
        }
        System.out.print(out);
    }
}
