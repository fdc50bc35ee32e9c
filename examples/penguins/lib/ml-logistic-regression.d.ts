// Types for ml-logistic-regression 2.0.0, which ships none. Only the parts this example uses.
declare module 'ml-logistic-regression' {
  import type { Matrix } from 'ml-matrix';

  /** One of the one-vs-all binary classifiers the library trains. */
  export interface BinaryClassifier {
    weights: Matrix | null;
    /** Probability of "not this classifier's class" for each row (see the library's one-vs-all coding). */
    testScores(features: Matrix): number[];
  }

  /** The library's serialised form, as returned by toJSON(). */
  export interface LogisticRegressionJson {
    name: 'LogisticRegression';
    numSteps: number;
    learningRate: number;
    numberClasses: number;
    classifiers: { numSteps: number; learningRate: number; weights: number[][] }[];
  }

  export default class LogisticRegression {
    constructor(options?: { numSteps?: number; learningRate?: number });
    numberClasses: number;
    classifiers: BinaryClassifier[];
    train(features: Matrix, target: Matrix): void;
    predict(features: Matrix): number[];
    toJSON(): LogisticRegressionJson;
    static load(model: LogisticRegressionJson): LogisticRegression;
  }
}
