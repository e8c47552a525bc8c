"""TODO."""

import streamlit as st

st.title("tag_review")
