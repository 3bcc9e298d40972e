package io.clickflow.udf;

import com.amazon.randomcutforest.RandomCutForest;
import com.amazon.randomcutforest.returntypes.DiVector;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.ColumnList;
import org.apache.flink.types.Row;

/**
 * {@code RANDOM_CUT_FOREST_WITH_EXPLANATION(input => TABLE t [PARTITION BY k], numberOfTrees,
 * subSampleSize, timeDecay, shingleSize, withDirectionality [, seed] [, columns])}: RANDOM_CUT_FOREST's score and
 * KDA's {@code ANOMALY_EXPLANATION}, a JSON object with, per numeric column, {@code ATTRIBUTION_SCORE}
 * (that column's share of the score: the shares add up to the score) and, with directionality,
 * {@code STRENGTH} (how one-sided the share is: |high - low|) and {@code DIRECTION} ({@code HIGH} when
 * the value is unusual for being high, {@code LOW} for being low), each written as a string, as KDA
 * wrote them.
 */
@DataTypeHint("ROW<ANOMALY_SCORE DOUBLE, ANOMALY_EXPLANATION STRING>")
public class RandomCutForestWithExplanation extends ProcessTableFunction<Row> {
    static final String NAME = "RANDOM_CUT_FOREST_WITH_EXPLANATION";

    private transient ForestModel model;

    public void eval(
            Context ctx,
            @StateHint(ttl = StateTtl.NONE) MapView<Integer, RandomCutForestScore.Model> state,
            @ArgumentHint(
                            value = {
                                ArgumentTrait.SET_SEMANTIC_TABLE,
                                ArgumentTrait.OPTIONAL_PARTITION_BY,
                                ArgumentTrait.PASS_COLUMNS_THROUGH
                            },
                            name = "input")
                    Row input,
            @ArgumentHint(name = "numberOfTrees", isOptional = true) Integer trees,
            @ArgumentHint(name = "subSampleSize", isOptional = true) Integer subSampleSize,
            @ArgumentHint(name = "timeDecay", isOptional = true) Integer timeDecay,
            @ArgumentHint(name = "shingleSize", isOptional = true) Integer shingleSize,
            @ArgumentHint(name = "withDirectionality", isOptional = true) Boolean directionality,
            @ArgumentHint(name = "seed", isOptional = true) Integer seed,
            @ArgumentHint(name = "columns", isOptional = true) ColumnList columns)
            throws Exception {
        if (model == null) {
            model = new ForestModel(trees, subSampleSize, timeDecay, shingleSize, seed, columns,
                    ctx.tableSemanticsFor("input"), NAME);
        }
        RandomCutForestScore.Model held = model.held(state);
        double[] point = model.point(input);
        if (point == null) {
            collect(Row.of(null, null));
            return;
        }
        RandomCutForest forest = held.forest;
        double score = forest.getAnomalyScore(point);
        DiVector attribution = forest.getAnomalyAttribution(point);
        forest.update(point);
        state.put(RandomCutForestScore.FOREST, held); // a reference on the heap backend; serialized on RocksDB
        collect(Row.of(score, explanation(model, attribution, directionality != null && directionality)));
    }

    /** KDA's ANOMALY_EXPLANATION of one record (all zero before the forest is ready). */
    static String explanation(ForestModel model, DiVector attribution, boolean directionality) {
        double[][] sides = model.perColumn(attribution.high, attribution.low);
        ObjectNode json = Json.MAPPER.createObjectNode();
        for (int c = 0; c < model.names.length; c++) {
            double high = sides[0][c];
            double low = sides[1][c];
            ObjectNode column = json.putObject(model.names[c]);
            column.put("ATTRIBUTION_SCORE", Double.toString(high + low));
            if (directionality) {
                column.put("STRENGTH", Double.toString(Math.abs(high - low)));
                column.put("DIRECTION", high >= low ? "HIGH" : "LOW");
            }
        }
        return json.toString();
    }
}
