# sealedreg on the embedded store. Build: docker build -t sealedreg .
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sealedreg ./sealedreg
RUN pip install --no-cache-dir . && useradd --system --home /data sealedreg && mkdir -p /data && chown sealedreg /data
USER sealedreg
VOLUME /data
EXPOSE 5000
ENTRYPOINT ["sealedreg"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data", "/data"]
