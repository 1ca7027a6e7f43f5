# SPDX-License-Identifier: GPL-2.0
"""lr_serving: TF-IDF + logistic regression with scikit-learn (FunctionBench
lr_serving). Init generates 600 short labelled reviews, fits the vectoriser
and the model (the training stands in for FunctionBench's model download);
a request classifies a generated review."""
import random

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

GOOD = ["great", "excellent", "love", "perfect", "happy", "fast", "recommend", "nice"]
BAD = ["awful", "broken", "hate", "slow", "refund", "poor", "waste", "angry"]
NEUTRAL = ["product", "delivery", "box", "price", "item", "order", "color", "size",
           "the", "was", "and", "it", "very", "quite", "really", "this"]


def review(rnd, label):
    words = rnd.sample(NEUTRAL, 6) + rnd.sample(GOOD if label else BAD, 2)
    rnd.shuffle(words)
    return " ".join(words)


def init():
    rnd = random.Random(7)
    labels = [i % 2 for i in range(600)]
    docs = [review(rnd, lab) for lab in labels]
    vec = TfidfVectorizer()
    x = vec.fit_transform(docs)
    model = LogisticRegression(max_iter=200).fit(x, labels)
    return vec, model


def handler(state, n):
    vec, model = state
    rnd = random.Random(n)
    text = review(rnd, n % 2)
    p = model.predict_proba(vec.transform([text]))[0][1]
    return "%d %.4f" % (int(p > 0.5), p)
